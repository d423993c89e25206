import Bitmaps
import Synchronization
import UFFDCore

/// Counters the source's threads update as they work.
final class SourceCounters: Sendable {
    let pagesSent = Atomic<Int>(0)
    let pagesStreamed = Atomic<Int>(0)
    let pagesRequested = Atomic<Int>(0)
    let duplicatePages = Atomic<Int>(0)
    let requestsForPagesSent = Atomic<Int>(0)
    let zeroReplies = Atomic<Int>(0)
    let requestsReceived = Atomic<Int>(0)
    let bitmapBytes = Atomic<Int>(0)
    let pagesDiscarded = Atomic<Int>(0)
    let reconnections = Atomic<Int>(0)
    let pagesResent = Atomic<Int>(0)
    let pausedNanoseconds = Atomic<Int>(0)
}

/// What a source did, by class of page.
public struct SourceReport: Sendable, Codable, Equatable {
    public var pageCount: Int
    public var pageSize: Int
    /// Pages skipped, by reason.
    public var freePages: Int
    public var neverPopulatedPages: Int
    public var zeroPages: Int
    /// Pages that had to travel.
    public var dataPages: Int
    /// Distinct pages sent (each at most once, except `duplicatePages`).
    public var pagesSent: Int
    public var pagesStreamed: Int
    /// Pages sent as replies to requests.
    public var pagesRequested: Int
    /// Requests for pages the stream had already sent, left to the stream
    /// (no second copy travels).
    public var requestsForPagesSent: Int
    /// Pages sent twice: requested just after the stream sent them (far back
    /// in flight), or sent as a reply while the stream's batch holding the
    /// same page was going out.
    public var duplicatePages: Int
    /// Requests answered with a ZERO reply (skipped pages asked for before
    /// the destination had the bitmap).
    public var zeroReplies: Int
    public var requestFrames: Int
    /// Pages the destination discarded (its application dropped or unmapped them).
    public var pagesDiscarded: Int
    /// Encoded skip-bitmap bytes sent (again after a reconnection to a
    /// destination that had not received it).
    public var bitmapBytes: Int
    /// Times the destination reconnected after a lost lane, and resumed.
    public var reconnections: Int
    /// Pages sent again because they were lost in flight with a connection.
    public var pagesResent: Int
    /// Time spent paused, waiting for the destination to reconnect.
    public var pausedSeconds: Double
    /// Classifying the pages, before any connection.
    public var scanSeconds: Double
    /// First connection to READY: how long the destination could not run.
    public var switchoverSeconds: Double
    /// First connection to COMPLETE.
    public var totalSeconds: Double

    init(plan: SkipPlan, counters: SourceCounters, scanSeconds: Double, switchoverSeconds: Double, totalSeconds: Double) {
        pageCount = plan.pageCount
        pageSize = SystemPage.size
        freePages = plan.free.count
        neverPopulatedPages = plan.neverPopulated.count
        zeroPages = plan.zero.count
        dataPages = plan.dataPages
        pagesSent = counters.pagesSent.load(ordering: .relaxed)
        pagesStreamed = counters.pagesStreamed.load(ordering: .relaxed)
        pagesRequested = counters.pagesRequested.load(ordering: .relaxed)
        duplicatePages = counters.duplicatePages.load(ordering: .relaxed)
        requestsForPagesSent = counters.requestsForPagesSent.load(ordering: .relaxed)
        zeroReplies = counters.zeroReplies.load(ordering: .relaxed)
        requestFrames = counters.requestsReceived.load(ordering: .relaxed)
        pagesDiscarded = counters.pagesDiscarded.load(ordering: .relaxed)
        bitmapBytes = counters.bitmapBytes.load(ordering: .relaxed)
        reconnections = counters.reconnections.load(ordering: .relaxed)
        pagesResent = counters.pagesResent.load(ordering: .relaxed)
        pausedSeconds = Double(counters.pausedNanoseconds.load(ordering: .relaxed)) / 1e9
        self.scanSeconds = scanSeconds
        self.switchoverSeconds = switchoverSeconds
        self.totalSeconds = totalSeconds
    }
}
