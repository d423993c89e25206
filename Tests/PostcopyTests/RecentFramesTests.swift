@testable import PostcopySource
import Testing
import Watchdog

@Suite("RecentFrames", .watchdog)
struct RecentFramesTests {
    @Test("a page counts as recent while fewer than the window's bytes were streamed after its frame")
    func window() {
        let recent = RecentFrames(capacity: 8)
        recent.record(0..<4, bytes: 4 * 4096)
        recent.record(4..<8, bytes: 4 * 4096)
        recent.record(100..<101, bytes: 4096)
        // After page 2's frame: 5 pages (20 KiB); after page 5's: 1 page; after page 100's: none.
        #expect(recent.sentWithin(21 * 1024, 2))
        #expect(!recent.sentWithin(20 * 1024, 2))
        #expect(recent.sentWithin(5 * 1024, 5))
        #expect(!recent.sentWithin(4 * 1024, 5))
        #expect(recent.sentWithin(1, 100))
        #expect(!recent.sentWithin(1 << 20, 50))  // never streamed, and every frame was seen
    }

    @Test("when the frames remembered do not reach back the whole window, an unseen page counts as recent")
    func capacityExhausted() {
        let recent = RecentFrames(capacity: 4)
        for page in 0..<10 { recent.record(page..<(page + 1), bytes: 4096) }
        // Frames of pages 6...9 are remembered; 40 KiB back reaches past them.
        #expect(recent.sentWithin(40 * 1024, 7))
        #expect(recent.sentWithin(40 * 1024, 2))   // forgotten: assumed recent
        #expect(!recent.sentWithin(8 * 1024, 2))   // the window ends within what is remembered
    }
}
