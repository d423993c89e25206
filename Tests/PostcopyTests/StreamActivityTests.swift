@testable import PostcopyDest
import Testing
import Watchdog

@Suite("StreamActivity", .watchdog)
struct StreamActivityTests {
    private let quiet = UInt64(StreamActivity.quietTime / .nanoseconds(1))

    @Test("The stream counts as flowing for quietTime after pages arrive, then as quiet again")
    func quietAfterQuietTime() {
        let activity = StreamActivity()
        let start: UInt64 = 5_000_000_000
        #expect(activity.isQuiet(at: start))  // nothing has arrived yet
        activity.recordPages(at: start)
        #expect(!activity.isQuiet(at: start))
        #expect(!activity.isQuiet(at: start + quiet))
        #expect(activity.isQuiet(at: start + quiet + 1))
        activity.recordPages(at: start + quiet)  // a later piece restarts the wait
        #expect(!activity.isQuiet(at: start + quiet + 1))
        #expect(activity.isQuiet(at: start + 2 * quiet + 1))
    }
}
