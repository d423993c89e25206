#if canImport(Glibc)
import Glibc
#endif
import PostcopyDest
import PostcopySource
import PostcopyWire
import Testing
import UFFDCore
import Watchdog

/// An integer from the environment, or `value`.
private func soakSetting(_ name: String, default value: Int) -> Int {
    getenv(name).flatMap { Int(String(cString: $0)) } ?? value
}

/// In the spirit of the kernel's uffd-stress "bounce" test: round after round,
/// a new region with a random layout migrates while threads fault on random
/// pages, and every page is checked. `make test` runs a few rounds;
/// `make soak` runs until POSTCOPY_SOAK_SECONDS (default 60) or
/// POSTCOPY_SOAK_ROUNDS, whichever comes first.
@Suite("Soak: random migrations with threads faulting at random",
       // The run ends itself at its deadline; only a round that hangs outlasts this.
       .watchdog(seconds: Double(soakSetting("POSTCOPY_SOAK_SECONDS", default: 60)) + Watchdog.defaultSeconds))
struct SoakTests {

    @Test("rounds of random layouts, batch sizes and touches; nothing lost")
    func soak() throws {
        let rounds = soakSetting("POSTCOPY_SOAK_ROUNDS", default: 4)
        let deadline = ContinuousClock.now + .seconds(soakSetting("POSTCOPY_SOAK_SECONDS", default: 60))
        var random = SystemRandomNumberGenerator()
        var completed = 0
        for round in 0..<rounds where ContinuousClock.now < deadline {
            let pages = Int.random(in: 512...4096, using: &random)
            var free: [Range<Int>] = []
            var page = Int.random(in: 0...64, using: &random)
            while page < pages {
                let length = min(Int.random(in: 1...300, using: &random), pages - page)
                free.append(page..<(page + length))
                page += length + Int.random(in: 1...400, using: &random)
            }
            let region = try TestRegion(pages: pages, free: free,
                                        untouched: Set((0..<16).map { _ in Int.random(in: 0..<pages, using: &random) }))
            var configuration = PostcopySource.Configuration()
            configuration.streamBatchPages = [1, 4, 64, 512].randomElement(using: &random)!
            configuration.sendSkipBitmap = Bool.random(using: &random)
            let endpoint: Endpoint = Bool.random(using: &random)
                ? .tcp(host: "127.0.0.1", port: 0) : .unix(path: "/tmp/postcopy-soak-\(getpid())-\(round).sock")
            let source = try ServingSource(region, endpoint: endpoint, configuration: configuration)
            var destinationConfiguration = PostcopyDestination.Configuration()
            destinationConfiguration.eagerZeroMap = Bool.random(using: &random)
            let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: destinationConfiguration)
            let lists = (0..<8).map { _ in (0..<200).map { _ in Int.random(in: 0..<pages) } }
            touchPages(destination.region, lists)
            _ = try destination.waitForCompletion()
            _ = try source.finish()
            var wrong: [Int] = []
            for page in 0..<pages where !region.matches(destination.region, page: page) { wrong.append(page) }
            #expect(wrong.isEmpty, "round \(round): \(wrong.count) pages differ, first \(wrong.prefix(5)); batch \(configuration.streamBatchPages), bitmap \(configuration.sendSkipBitmap), eager \(destinationConfiguration.eagerZeroMap)")
            completed += 1
        }
        #expect(completed > 0)
        print("soak: \(completed) rounds, nothing lost")
    }
}
