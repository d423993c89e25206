#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostcopyDest
import PostcopySource
import PostcopyWire
import SystemCalls
import Testing
import UFFDCore
import Watchdog

/// This process's threads by name: the CPUs each may run on, as /proc shows
/// them (`Cpus_allowed_list`).
private func threadAffinities() -> [(name: String, cpus: String)] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.compactMap { tid in
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }  // the thread ended meanwhile
        return (comm.trimmingCharacters(in: .newlines), line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
    }
}

/// Waits up to 5 s for `count` threads named `name` on `cpus`.
private func waitForThreads(_ name: String, count: Int, on cpus: CPUSet) -> Bool {
    for _ in 0..<500 {
        if threadAffinities().filter({ $0.name == name && $0.cpus == cpus.description }).count >= count { return true }
        usleep(10_000)
    }
    return false
}

/// Only this suite confines threads with these names; tests elsewhere that
/// run at the same time have such threads too, unconfined.
@Suite("Stream threads confined to a CPU set", .watchdog, .serialized)
struct StreamCPUsTests {
    /// A CPU to confine to that is not all of them, when there is more than one.
    private let cpu = CPUSet([(try? CPUSet.currentThreadAffinity().cpus.last) ?? 0])

    @Test("the destination's bulk lane and placing threads run on the set, its fault loop does not; every page arrives")
    func destinationConfined() throws {
        let allowed = try CPUSet.currentThreadAffinity()
        let region = try TestRegion(pages: 256)
        var sourceConfiguration = PostcopySource.Configuration()
        sourceConfiguration.backgroundStream = false  // the migration lasts until the pages are touched
        let source = try ServingSource(region, configuration: sourceConfiguration)
        var configuration = PostcopyDestination.Configuration()
        configuration.streamCPUs = cpu
        configuration.placingThreads = 2
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: configuration)
        #expect(waitForThreads("bulk lane", count: 1, on: cpu), "\(threadAffinities())")
        #expect(waitForThreads("placing", count: 2, on: cpu), "\(threadAffinities())")
        if allowed != cpu {
            #expect(threadAffinities().contains { $0.name == "fault loop" && $0.cpus == allowed.description },
                    "\(threadAffinities())")
        }
        touchPages(destination.region, [Array(0..<256)])
        _ = try destination.waitForCompletion()
        _ = try source.finish()
        for page in 0..<256 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("the source's stream thread runs on the set")
    func sourceConfined() throws {
        let region = try TestRegion(pages: 4096)
        var configuration = PostcopySource.Configuration()
        configuration.streamCPUs = cpu
        configuration.recoveryDeadline = nil
        let source = try ServingSource(region, configuration: configuration)
        // A destination that never reads its bulk lane: the stream blocks
        // once the socket buffers are full, its thread alive meanwhile.
        let (urgent, bulk, _) = try Peer.joinSource(source.endpoint)
        #expect(waitForThreads("bulk stream", count: 1, on: cpu), "\(threadAffinities())")
        urgent.shutdown()
        bulk.shutdown()
        #expect(throws: (any Error).self) { try source.finish() }
    }

    @Test("a migration whose stream threads (both sides) are confined completes, every page equal")
    func migratesConfined() throws {
        let region = try TestRegion(pages: 4096, free: [0..<1024])
        var sourceConfiguration = PostcopySource.Configuration()
        sourceConfiguration.streamCPUs = cpu
        let source = try ServingSource(region, configuration: sourceConfiguration)
        var configuration = PostcopyDestination.Configuration()
        configuration.streamCPUs = cpu
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: configuration)
        let report = try destination.waitForCompletion()
        _ = try source.finish()
        #expect(report.pagesStreamed > 0)
        for page in 0..<4096 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("a CPU the kernel does not allow is refused by both sides before anything connects")
    func unavailableRefused() throws {
        let allowed = try CPUSet.currentThreadAffinity()
        try #require(!allowed.cpus.contains(1023))
        let expected = CPUSet.ConfinementError.unavailable(requested: CPUSet([1023]), granted: nil)

        let region = try TestRegion(pages: 16)
        var sourceConfiguration = PostcopySource.Configuration()
        sourceConfiguration.streamCPUs = CPUSet([1023])
        #expect(throws: expected) {
            try PostcopySource(region: SourceRegion(memory: region.mapping.base, length: region.mapping.length),
                               configuration: sourceConfiguration)
        }

        var configuration = PostcopyDestination.Configuration()
        configuration.streamCPUs = CPUSet([1023])
        // Nobody listens there: a connect attempt would fail otherwise.
        #expect(throws: expected) {
            try PostcopyDestination.connect(to: .unix(path: "/nonexistent/postcopy.sock"), configuration: configuration)
        }
    }
}
