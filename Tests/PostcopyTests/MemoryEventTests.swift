#if canImport(Glibc)
import Glibc
#endif
import CTestSupport
import PostcopyDest
import PostcopySource
import PostcopyWire
import Testing
import UFFDCore
import Watchdog

@Suite("The application changes the destination region while it arrives", .watchdog)
struct MemoryEventTests {
    @Test("pages dropped with MADV_DONTNEED mid-migration read as zero and are never filled with the source's data")
    func dontNeed() throws {
        let pages = 16384
        let region = try TestRegion(pages: pages)
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = 8
        let source = try ServingSource(region, configuration: configuration)
        let destination = try PostcopyDestination.connect(to: source.endpoint)
        let dropped = destination.region.pages(8000, count: 4000)
        // Drop while pages stream in, then touch some of what was dropped.
        try dropped.discardPages()
        touchPages(destination.region, [Array(8000..<8100), Array(11_900..<12_000)])
        let report = try destination.waitForCompletion()
        _ = try source.finish()
        #expect(report.pagesDropped == 4000)
        for page in 0..<pages {
            if (8000..<12_000).contains(page) {
                let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: destination.region.start + UInt(page * SystemPage.size)),
                                                   count: SystemPage.size)
                #expect(bytes.allSatisfy { $0 == 0 }, "dropped page \(page) holds data")
            } else {
                #expect(region.matches(destination.region, page: page), "page \(page)")
            }
        }
    }

    @Test("unmapping the end of the region mid-migration completes the rest correctly")
    func unmapTail() throws {
        let pages = 8192
        let region = try TestRegion(pages: pages)
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = 8
        let source = try ServingSource(region, configuration: configuration)
        let destination = try PostcopyDestination.connect(to: source.endpoint)
        let tail = destination.region.pages(6000, count: pages - 6000)
        #expect(munmap(UnsafeMutableRawPointer(bitPattern: tail.start), tail.length) == 0)
        let report = try destination.waitForCompletion()
        let sourceReport = try source.finish()
        #expect(report.pagesDropped == pages - 6000)
        #expect(sourceReport.pagesDiscarded == pages - 6000)
        for page in 0..<6000 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("moving the region with mremap mid-migration is refused with an error that says so")
    func mremapRefused() throws {
        let pages = 8192
        let region = try TestRegion(pages: pages)
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = 1
        let source = try ServingSource(region, configuration: configuration)
        var destinationConfiguration = PostcopyDestination.Configuration()
        destinationConfiguration.poisonMissingPagesOnFailure = false
        let target = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        do {
            let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: destinationConfiguration)
            let moved = ct_mremap_fixed(UnsafeMutableRawPointer(bitPattern: destination.region.start), destination.region.length, target.base)
            #expect(moved == target.base)
            let failure = try #require(throws: DestinationFailure.self) { try destination.waitForCompletion() }
            #expect(failure.cause as? DestinationError == .regionMoved(from: destination.region.start, to: target.range.start,
                                                                      length: destination.region.length))
            #expect("\(failure)".contains("mremap"))
        }
        // The destination, and with it its userfaultfd, is gone: unmapping the
        // moved (still registered) pages can no longer wait on an UNMAP event.
        #expect(throws: (any Error).self) { try source.finish() }
        withExtendedLifetime(target) {}
    }
}
