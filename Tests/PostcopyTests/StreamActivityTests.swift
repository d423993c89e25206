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

    @Test("Threads count as waiting at the front for frontTime after a faulted-on page arrives, and not before one has")
    func faultedAtFront() {
        let activity = StreamActivity()
        let front = UInt64(StreamActivity.frontTime / .nanoseconds(1))
        let start: UInt64 = 5_000_000_000
        #expect(!activity.isFaultedAtFront(at: start))
        activity.recordPages(at: start)  // pages alone say nothing of faults
        #expect(!activity.isFaultedAtFront(at: start))
        activity.recordFaultAtFront(at: start)
        #expect(activity.isFaultedAtFront(at: start))
        #expect(activity.isFaultedAtFront(at: start + front))
        #expect(!activity.isFaultedAtFront(at: start + front + 1))
        activity.recordFaultAtFront(at: start + front)
        #expect(activity.isFaultedAtFront(at: start + 2 * front))
    }
}
