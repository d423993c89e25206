#if canImport(Glibc)
import Glibc
#endif
import PostcopyDest
import PostcopySource
import PostcopyWire
import Synchronization
import Testing
import UFFDCore
import Watchdog

@Suite("Many destination threads faulting while pages stream in", .watchdog)
struct ConcurrentFaultTests {
    @Test("16 threads fault on shared and on their own pages of a 64 MiB region; every page ends correct, whether streamed pages are placed by the receiver (0) or by placing threads",
          arguments: ["tcp", "unix"], [0, 3])
    func manyThreads(transport: String, placingThreads: Int) throws {
        // Cases run in parallel: each Unix socket needs a path of its own.
        let endpoint = transport == "tcp" ? Endpoint.tcp(host: "127.0.0.1", port: 0)
                                          : Endpoint.unix(path: "/tmp/postcopy-test-\(getpid())-\(placingThreads).sock")
        let pages = 16384
        let region = try TestRegion(pages: pages, free: [1000..<3000, 8000..<9000], untouched: Set(12000..<12100),
                                    zero: Set(stride(from: 5000, to: 5400, by: 2)))
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = 16  // small frames: requests interleave with the stream
        let source = try ServingSource(region, endpoint: endpoint, configuration: configuration)
        var destinationConfiguration = PostcopyDestination.Configuration()
        destinationConfiguration.placingThreads = placingThreads
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: destinationConfiguration)
        let shared = [0, 1, 2, 4095, 9999, 16383]
        let lists = (0..<16).map { thread in
            shared + stride(from: pages - 1 - thread, to: 0, by: -97).map { $0 }  // from the far end, against the stream
        }
        touchPages(destination.region, lists)
        let report = try destination.waitForCompletion()
        let sourceReport = try source.finish()
        #expect(report.faultsRemote + report.faultsZeroLocal + report.faultsAlreadyHeld > 0)
        #expect(report.pagesRequested <= sourceReport.dataPages + sourceReport.zeroReplies)
        #expect(sourceReport.pagesSent == sourceReport.dataPages)
        // Every page frame received was counted once placed, whichever thread placed it.
        #expect(report.pagesStreamed + report.pagesReceivedAsReply == sourceReport.pagesStreamed + sourceReport.pagesRequested)
        var wrong = 0
        for page in 0..<pages where !region.matches(destination.region, page: page) { wrong += 1 }
        #expect(wrong == 0)
    }
}
