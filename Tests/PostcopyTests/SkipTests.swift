#if canImport(Glibc)
import Glibc
#endif
import PostcopyDest
import PostcopySource
import PostcopyWire
import Testing
import UFFDCore
import Watchdog

@Suite("Skipping pages that need not travel", .watchdog)
struct SkipTests {
    @Test("without the bitmap (option b), skipped pages arrive as ZERO frames, never as data")
    func withoutBitmap() throws {
        let region = try TestRegion(pages: 256, free: [16..<80])
        var configuration = PostcopySource.Configuration()
        configuration.sendSkipBitmap = false
        let source = try ServingSource(region, configuration: configuration)
        let destination = try PostcopyDestination.connect(to: source.endpoint)
        touchPages(destination.region, [[20, 21, 40], [50, 79, 100]])
        let report = try destination.waitForCompletion()
        let sourceReport = try source.finish()
        #expect(!destination.hasSkipBitmap)
        #expect(sourceReport.bitmapBytes == 0)
        #expect(report.zeroReplies >= 64)
        // Only the 192 data pages travelled as data, and all of it arrived.
        #expect(sourceReport.pagesSent == 256 - 64)
        #expect(report.pagesStreamed + report.pagesReceivedAsReply == sourceReport.pagesStreamed + sourceReport.pagesRequested)
        #expect(report.bytesReceived == (report.pagesStreamed + report.pagesReceivedAsReply) * SystemPage.size)
        for page in 0..<256 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("with the background stream off only requested pages travel, and the migration ends when the last is asked for")
    func withoutBackgroundStream() throws {
        let region = try TestRegion(pages: 256, free: [16..<80])
        var configuration = PostcopySource.Configuration()
        configuration.backgroundStream = false
        let source = try ServingSource(region, configuration: configuration)
        let destination = try PostcopyDestination.connect(to: source.endpoint)
        let needed = Array(0..<16) + Array(80..<256)
        // Half the pages: nothing else arrives, so the migration is still open.
        touchPages(destination.region, [Array(needed.prefix(100))])
        usleep(100_000)
        #expect(!source.hasFinished)
        #expect(destination.progress.held < destination.progress.total)
        touchPages(destination.region, [Array(needed.dropFirst(100))])
        let report = try destination.waitForCompletion()
        let sourceReport = try source.finish()
        #expect(sourceReport.pagesStreamed == 0)
        #expect(report.pagesStreamed == 0)
        #expect(report.pagesRequested == needed.count)
        for page in 0..<256 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("once the bitmap has arrived no request leaves the destination for a free page")
    func noRequestAfterBitmap() throws {
        let region = try TestRegion(pages: 512, free: [0..<200, 300..<400], untouched: [450, 451], zero: [460])
        let source = try ServingSource(region)
        var configuration = PostcopyDestination.Configuration()
        configuration.eagerZeroMap = false  // so the free pages do fault
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: configuration)
        let deadline = ContinuousClock.now + .seconds(20)
        while !destination.hasSkipBitmap && ContinuousClock.now < deadline { usleep(1000) }
        #expect(destination.hasSkipBitmap)
        let freePages = Array(0..<200) + Array(300..<400) + [450, 451, 460]
        touchPages(destination.region, [Array(freePages.prefix(150)), Array(freePages.dropFirst(150))])
        let report = try destination.waitForCompletion()
        let sourceReport = try source.finish()
        #expect(sourceReport.zeroReplies == 0)
        #expect(report.zeroReplies == 0)
        // Every touched free page was zero-filled locally without a round trip.
        #expect(report.faultsZeroLocal == freePages.count)
        #expect(report.pagesRequested == 0)
        #expect(sourceReport.freePages == 300 && sourceReport.neverPopulatedPages == 2 && sourceReport.zeroPages == 1)
        for page in 0..<512 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }

    @Test("with eager zero-mapping, free runs are mapped as soon as the bitmap arrives and never fault")
    func eagerZeroMap() throws {
        let region = try TestRegion(pages: 1024, free: [0..<512])
        let source = try ServingSource(region)
        let destination = try PostcopyDestination.connect(to: source.endpoint)
        let report = try destination.waitForCompletion()
        _ = try source.finish()
        touchPages(destination.region, [Array(0..<512)])
        #expect(report.pagesZeroMappedEagerly + report.zeroReplies + report.pagesZeroedOnFault == 512)
        #expect(report.faultsZeroLocal == 0)
        for page in 0..<1024 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }
}

@Suite("A lazy destination (no eager zero-map)", .watchdog)
struct LazyDestinationTests {
    @Test("completes although the application never touches the skipped pages, which then read as zero")
    func completesWithoutTouchingSkippedPages() throws {
        let region = try TestRegion(pages: 1024, free: [100..<600], untouched: [700, 701])
        let source = try ServingSource(region)
        var configuration = PostcopyDestination.Configuration()
        configuration.eagerZeroMap = false
        let destination = try PostcopyDestination.connect(to: source.endpoint, configuration: configuration)
        let report = try destination.waitForCompletion()
        _ = try source.finish()
        #expect(report.pagesZeroMappedEagerly == 0)
        for page in 0..<1024 { #expect(region.matches(destination.region, page: page), "page \(page)") }
    }
}
