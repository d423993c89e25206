import PostcopyDest
import PostcopySource
import PostcopyWire
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("Stream threads confined to a CPU set", .watchdog)
struct StreamCPUsTests {
    @Test("a migration whose stream threads (both sides) are confined to CPU 0 completes, every page equal")
    func migratesConfined() throws {
        let region = try TestRegion(pages: 4096, free: [0..<1024])
        var sourceConfiguration = PostcopySource.Configuration()
        sourceConfiguration.streamCPUs = CPUSet([0])
        let source = try ServingSource(region, configuration: sourceConfiguration)
        var configuration = PostcopyDestination.Configuration()
        configuration.streamCPUs = CPUSet([0])
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: configuration)
        let report = try destination.waitForCompletion()
        _ = try source.finish()
        #expect(report.pagesStreamed > 0)
        for page in 0..<4096 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("a CPU this process may not use is refused by both sides before anything connects")
    func unavailableRefused() throws {
        let allowed = try CPUSet.currentThreadAffinity()
        try #require(!allowed.cpus.contains(1023))
        let expected = CPUSet.ConfinementError(requested: CPUSet([1023]), allowed: allowed, errno: nil)

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
