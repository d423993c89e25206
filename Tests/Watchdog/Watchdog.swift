#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// Ends the test process, loudly, when one test case runs longer than it
/// ever should.
///
/// A postcopy bug rarely crashes: it leaves a thread asleep in a page fault
/// that nobody will resolve, and the test waits forever. Swift Testing's
/// `.timeLimit` cannot help, because it cancels a task, and a thread blocked
/// in the kernel never looks at its task. So a thread of our own waits on the
/// test; if the test has not finished in time it prints the test's name and
/// where each of the process's threads sleeps, then calls `abort()`.
///
/// The limit is 120 s per test case, or POSTCOPY_TEST_WATCHDOG_SECONDS
/// (`make tsan` and `make soak` raise it).
public struct Watchdog: TestTrait, SuiteTrait, TestScoping {
    public let seconds: Double

    public var isRecursive: Bool { true }

    public static var defaultSeconds: Double {
        ProcessInfo.processInfo.environment["POSTCOPY_TEST_WATCHDOG_SECONDS"].flatMap(Double.init) ?? 120
    }

    // Each test case gets its own watch; a suite is not a thing that hangs.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Watchdog? {
        testCase == nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        let finished = DispatchSemaphore(value: 0)
        let name = "\(test.displayName ?? test.name) (\(test.sourceLocation))"
        let seconds = self.seconds
        // Made now, written with write(2) alone: a hang can hold the
        // allocator's locks (glibc holds them across fork(), and a fork can
        // wait forever on a userfaultfd event), and then nothing that
        // allocates, the thread report below included, ever prints.
        let headline = Array("watchdog: test \"\(name)\" still running after \(seconds.formatted()) s; presumed hung, aborting.\n".utf8)
        let watcher = Thread {
            guard finished.wait(timeout: .now() + seconds) == .timedOut else { return }
            headline.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
            // The report allocates: should it block, SIGALRM's default action
            // ends the process in 10 s all the same.
            alarm(10)
            Watchdog.reportThreads()
            abort()
        }
        watcher.name = "watchdog"
        watcher.start()
        defer { finished.signal() }
        try await function()
    }

    /// Writes, for every thread of this process, its name, state and the
    /// kernel function it sleeps in (/proc/self/task).
    static func reportThreads() {
        var lines = ["watchdog: threads (name, state, kernel wait channel):"]
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks.sorted(by: { (Int($0) ?? 0) < (Int($1) ?? 0) }) {
            func read(_ file: String) -> String {
                ((try? String(contentsOfFile: "/proc/self/task/\(task)/\(file)", encoding: .utf8)) ?? "?")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // The state is the field after the parenthesised name in stat.
            let stat = read("stat")
            let state = stat.range(of: ") ").map { String(stat[$0.upperBound...].prefix(1)) } ?? "?"
            lines.append("  \(task) \(read("comm")) \(state) \(read("wchan"))")
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

extension Trait where Self == Watchdog {
    /// Aborts the test process if a test case runs longer than
    /// `Watchdog.defaultSeconds`.
    public static var watchdog: Watchdog { Watchdog(seconds: Watchdog.defaultSeconds) }

    /// Aborts the test process if a test case runs longer than `seconds`.
    public static func watchdog(seconds: Double) -> Watchdog { Watchdog(seconds: seconds) }
}
