import Bitmaps
import PostcopyWire
import Synchronization
import UFFDCore

/// The background stream: every page the destination needs, in runs of up to
/// `batchPages`, on the bulk lane, skipping pages already sent as replies.
final class PageStream: Sendable {
    private let region: SourceRegion
    private let batchPages: Int
    private let counters: SourceCounters
    /// Pages sent by either lane.
    private let sent: AtomicPageBitmap
    /// Pages that must travel (not skipped).
    private let needed: PageBitmap
    /// Pages the destination discarded: no longer needed.
    private let discarded: AtomicPageBitmap
    /// Where to continue after a request (page index), or -1.
    private let hint = Atomic<Int>(-1)
    /// The last frames streamed, to tell a page still far back in flight.
    private let recent = RecentFrames(capacity: 512)
    private let stopped = Atomic<Bool>(false)
    /// Skipped runs to announce as ZERO frames: when no bitmap is sent, this
    /// is how the destination learns them without asking.
    private let zeroRuns: [Range<Int>]
    /// False: announce the skipped runs, then leave every page to requests.
    private let streamsPages: Bool

    /// - Parameters:
    ///   - held: After a reconnection, the pages the destination holds (its
    ///     RESUME bitmap): the only ones counted as sent. Whatever else was
    ///     sent before the break was lost in flight and travels again.
    ///   - discarded: Pages the destination discarded before the break.
    ///   - streamsPages: False: send no page unless it is requested.
    init(region: SourceRegion, plan: SkipPlan, batchPages: Int, counters: SourceCounters, announceSkipped: Bool,
         streamsPages: Bool = true, held: PageBitmap? = nil, discarded: PageBitmap? = nil) {
        precondition(batchPages > 0, "batch of \(batchPages) pages")
        self.region = region
        self.batchPages = batchPages
        self.counters = counters
        self.streamsPages = streamsPages
        needed = plan.skip.complement()
        sent = AtomicPageBitmap(pageCount: plan.pageCount)
        self.discarded = AtomicPageBitmap(pageCount: plan.pageCount)
        if let discarded { self.discarded.formUnion(discarded) }
        var announce = announceSkipped ? plan.skip : PageBitmap(pageCount: plan.pageCount)
        if let held {
            sent.formUnion(held)
            counters.pagesSent.store(needed.intersection(held).count, ordering: .relaxed)
            announce = announce.subtracting(held)
        }
        zeroRuns = Array(announce.runs(of: true))
    }

    /// Needed pages sent by either lane, for the next connection's stream to
    /// compare with what the destination says it holds.
    var neededPagesSent: PageBitmap { needed.intersection(sent.snapshot()) }

    /// Pages the destination discarded, to carry into the next connection's stream.
    var discardedPages: PageBitmap { discarded.snapshot() }

    /// Claims `page` for a reply: true if no lane has sent it yet (the
    /// caller sends it). False means it is already on its way: the stream
    /// sent it on this connection, which is reliable and in order.
    func claimForReply(_ page: Int) -> Bool {
        let first = !sent.testAndSet(page)
        if first { counters.pagesSent.add(1, ordering: .relaxed) }
        return first
    }

    /// Whether `page` was streamed within the last `window` stream bytes:
    /// still far back in flight.
    func streamedWithin(_ window: Int, _ page: Int) -> Bool { recent.sentWithin(window, page) }

    /// Records that the stream sends `page`; a page a reply sent meanwhile
    /// goes out twice (the batch was chosen before), counted as a duplicate.
    private func markStreamed(_ page: Int) {
        if sent.testAndSet(page) {
            counters.duplicatePages.add(1, ordering: .relaxed)
        } else {
            counters.pagesSent.add(1, ordering: .relaxed)
        }
    }

    /// Makes the stream continue at the page after `page`.
    func `continue`(after page: Int) { hint.store(page + 1, ordering: .relaxed) }

    /// Ends `run` after its current frame.
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Whether `stop` was called.
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Needed pages neither sent by either lane nor discarded by the destination.
    func pagesNeverSent() -> Int { needed.subtracting(sent.snapshot()).subtracting(discarded.snapshot()).count }

    /// Records pages the destination no longer needs; the stream skips them.
    func discard(_ pages: Range<Int>) {
        discarded.insert(contentsOf: pages)
        counters.pagesDiscarded.add(pages.count, ordering: .relaxed)
    }

    /// Streams until every needed page is sent or `stop` is called.
    ///
    /// - Complexity: O(pages / 64) bitmap scanning over the whole run, plus
    ///   one `sendmsg` per batch.
    func run(on bulk: FramedSocket) throws {
        for run in zeroRuns {
            // ZERO frames are 16 bytes whatever the run's length: announce them first.
            try bulk.send(.zero(offset: run.lowerBound * SystemPage.size, count: run.count))
        }
        guard streamsPages else { return }
        let pageCount = needed.pageCount
        var pending = needed
        var next = 0
        while !stopped.load(ordering: .relaxed) {
            let jump = hint.exchange(-1, ordering: .relaxed)
            if jump >= 0 && jump < pageCount { next = jump }
            guard let first = pending.firstSet(from: next) ?? pending.firstSet(from: 0) else { break }
            var end = first
            while end < pageCount, end - first < batchPages, pending.contains(end), !sent.contains(end),
                  !discarded.contains(end) { end += 1 }
            guard end > first else {
                // Sent as a reply, or discarded, meanwhile: drop it from the stream.
                pending.remove(first)
                next = first + 1
                continue
            }
            pending.remove(contentsOf: first..<end)
            // Recorded before the pages count as sent, so that a request
            // finding one sent also finds it among the recent frames.
            recent.record(first..<end, bytes: (end - first) * SystemPage.size)
            for page in first..<end { markStreamed(page) }
            try bulk.sendPages(offset: first * SystemPage.size, count: end - first, isReply: false,
                               data: region.pages(first, count: end - first))
            counters.pagesStreamed.add(end - first, ordering: .relaxed)
            next = end
        }
    }
}
