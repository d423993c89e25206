#if canImport(Glibc)
import Glibc
#endif
import CTestSupport
import SystemCalls
import Testing
import UFFDCore

/// A POSIX thread with a timed join, so a test that would hang fails instead.
final class TestThread: @unchecked Sendable {
    // @unchecked: `handle` is written once in `spawn` before anyone can read it.
    private var handle = pthread_t()

    static func spawn(_ body: @escaping @Sendable () -> Void) -> TestThread {
        let thread = TestThread()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&thread.handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create: \(result)")
        return thread
    }

    /// Joins; false when the thread is still running after `timeout`.
    func join(timeout: Duration = .seconds(20)) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += Int(timeout.components.seconds)
        return ct_timedjoin(handle, &deadline) == 0
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}

/// A thread that serves a userfaultfd's events with `handle` until finished,
/// and records every event it saw.
final class FaultServer: Sendable {
    let uffd: Userfaultfd
    private let stop: StopSignal
    private let thread: TestThread
    private let record: Record

    /// What the serving thread writes and the test reads.
    private final class Record: Sendable {
        let events = LockedValue<[UFFDEvent]>([])
        let failure = LockedValue<String?>(nil)
    }

    init(_ uffd: Userfaultfd, handle: @escaping @Sendable (UFFDEvent) throws -> Void) throws {
        let stop = try StopSignal()
        let record = Record()
        self.uffd = uffd
        self.stop = stop
        self.record = record
        thread = TestThread.spawn {
            var buffer = EventBuffer(capacity: 16)
            do {
                while try uffd.waitForEvents(stop: stop) == .readable {
                    try uffd.readEvents(into: &buffer) { event in
                        record.events.withLock { $0.append(event) }
                        try handle(event)
                    }
                }
            } catch {
                record.failure.withLock { $0 = "\(error)" }
            }
        }
    }

    /// Events seen so far.
    var events: [UFFDEvent] { record.events.withLock { $0 } }

    /// Page-fault events seen so far.
    var faults: [PageFault] {
        events.compactMap { if case .pageFault(let fault) = $0 { fault } else { nil } }
    }

    /// Stops the thread; records an issue if it failed or does not stop.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) {
        stop.signal()
        #expect(thread.join(), "fault server did not stop", sourceLocation: sourceLocation)
        if let failure = record.failure.withLock({ $0 }) {
            Issue.record("fault server failed: \(failure)", sourceLocation: sourceLocation)
        }
    }
}

/// Fills `count` bytes at `pointer` with `byte`.
func fill(_ pointer: UnsafeMutableRawPointer, _ byte: UInt8, count: Int = SystemPage.size) {
    pointer.initializeMemory(as: UInt8.self, repeating: byte, count: count)
}

/// Whether every byte of the page at `address` equals `byte`.
func page(at address: UInt, isAll byte: UInt8) -> Bool {
    let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: SystemPage.size)
    return bytes.allSatisfy { $0 == byte }
}

/// Reads one byte, faulting the page in.
@inline(never)
func touch(_ address: UInt) -> UInt8 {
    UnsafeRawPointer(bitPattern: address)!.load(as: UInt8.self)
}

/// A page-sized buffer filled with `byte`, for COPY sources.
final class PageSource: @unchecked Sendable {
    // @unchecked: written only in init.
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(pages: Int = 1, byte: UInt8) {
        count = pages * SystemPage.size
        pointer = .allocate(byteCount: count, alignment: SystemPage.size)
        fill(pointer, byte, count: count)
    }
    deinit { pointer.deallocate() }
}

/// Output and termination of a helper process run to completion.
struct HelperRun {
    var output: String
    var exitStatus: Int32?
    var signal: Int32?
}

/// Runs the UFFDTestHelper executable built beside the test bundle to the end.
func runHelper(_ arguments: [String]) throws -> HelperRun {
    try HelperProcess(arguments).finish()
}

/// The UFFDTestHelper executable, running: its standard output goes to a
/// pipe this process reads in `finish`.
struct HelperProcess {
    let pid: pid_t
    let arguments: [String]
    private let output: Int32

    /// Starts the helper; `passing`, when given, becomes its descriptor 3.
    init(_ arguments: [String], passing descriptor: Int32? = nil) throws {
        // SwiftPM builds executables beside the test bundle, itself an executable here.
        let bundle = try readLink("/proc/self/exe")
        let binDirectory = String(bundle[..<(bundle.lastIndex(of: "/") ?? bundle.endIndex)])
        let executable = binDirectory + "/UFFDTestHelper"
        #expect(access(executable, X_OK) == 0, "helper not found at \(executable)")

        var pipeEnds: [Int32] = [0, 0]
        // Close-on-exec: a helper spawned meanwhile by another test must not
        // hold this pipe open.
        #expect(ct_pipe_cloexec(&pipeEnds) == 0)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        if let descriptor { posix_spawn_file_actions_adddup2(&actions, descriptor, 3) }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        // The helper is meant to die of SIGBUS; Swift's crash backtracer would
        // spend minutes symbolicating that.
        // Under `make tsan` the helper is instrumented too and must not take
        // its deliberate SIGBUS for a bug: pass TSAN_OPTIONS on.
        let tsanOptions = getenv("TSAN_OPTIONS").map { "TSAN_OPTIONS=" + String(cString: $0) }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("SWIFT_BACKTRACE=enable=no")]
            + (tsanOptions.map { [strdup($0)] } ?? []) + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            throw HelperError(message: "posix_spawn \(executable): \(spawned)")
        }
        self.pid = pid
        self.arguments = arguments
        self.output = pipeEnds[0]
    }

    /// Reads the helper's output to its end and reaps it; a helper that has
    /// not finished within 30 s is killed and the test fails, instead of hanging.
    func finish() -> HelperRun {
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var entry = pollfd(fd: self.output, events: Int16(POLLIN), revents: 0)
        while true {
            if poll(&entry, 1, 30_000) == 0 {
                kill(pid, SIGKILL)
                Issue.record("helper \(arguments) did not finish within 30 s")
                break
            }
            let count = read(self.output, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += chunk[..<count]
        }
        close(self.output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return HelperRun(output: String(decoding: output, as: UTF8.self),
                         exitStatus: exited ? (status >> 8) & 0xff : nil,
                         signal: exited ? nil : status & 0x7f)
    }
}

struct HelperError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

private func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { throw HelperError(message: "readlink \(path): errno \(errno)") }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
