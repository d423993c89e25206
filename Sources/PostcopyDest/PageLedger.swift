import Bitmaps
import Synchronization

/// What the destination holds and what it has asked for, shared by the fault
/// loop and both lane receivers.
final class PageLedger: Sendable {
    let pageCount: Int
    /// Pages placed in the region (copied or zero-mapped).
    private let held: AtomicPageBitmap
    private let heldCount = Atomic<Int>(0)
    /// Pages requested from the source: each is requested once, however many
    /// threads fault on it.
    private let requested: AtomicPageBitmap
    /// The skip bitmap, once it has arrived; `skipReady` publishes it.
    private let skip: AtomicPageBitmap
    private let skipReady = Atomic<Bool>(false)
    /// Pages the application dropped (`madvise(MADV_DONTNEED)`) or unmapped
    /// during the migration: no longer needed, never to be filled with the
    /// source's data (the application expects zeros, or nothing, there).
    private let dropped: AtomicPageBitmap

    init(pageCount: Int) {
        self.pageCount = pageCount
        held = AtomicPageBitmap(pageCount: pageCount)
        requested = AtomicPageBitmap(pageCount: pageCount)
        skip = AtomicPageBitmap(pageCount: pageCount)
        dropped = AtomicPageBitmap(pageCount: pageCount)
    }

    /// Marks `pages` dropped by the application.
    func markDropped(_ pages: Range<Int>) { dropped.insert(contentsOf: pages) }

    @inline(__always)
    func isDropped(_ page: Int) -> Bool { dropped.contains(page) }

    /// Marks `pages` held; returns how many were not held before.
    ///
    /// - Complexity: O(pages) atomic operations.
    func markHeld(_ pages: Range<Int>) -> Int {
        var added = 0
        for page in pages where !held.testAndSet(page) { added += 1 }
        if added > 0 { heldCount.add(added, ordering: .acquiringAndReleasing) }
        return added
    }

    func isHeld(_ page: Int) -> Bool { held.contains(page) }
    var pagesHeld: Int { heldCount.load(ordering: .acquiring) }
    var isComplete: Bool { pagesHeld == pageCount }
    var heldSnapshot: PageBitmap { held.snapshot() }

    /// Claims the request for `page`; true the first time only.
    func claimRequest(_ page: Int) -> Bool { !requested.testAndSet(page) }
    func wasRequested(_ page: Int) -> Bool { requested.contains(page) }

    /// Pages requested and not held: after a reconnection, the requests the
    /// break may have swallowed.
    ///
    /// - Complexity: O(pageCount / 64).
    func outstandingRequests() -> [Int] {
        Array(requested.snapshot().subtracting(held.snapshot()).runs(of: true).joined())
    }

    /// Publishes the skip bitmap to the fault loop.
    func publishSkip(_ bitmap: PageBitmap) {
        skip.formUnion(bitmap)
        skipReady.store(true, ordering: .releasing)
    }

    /// Whether `page` is known to need no data from the source.
    @inline(__always)
    func isSkipped(_ page: Int) -> Bool {
        skipReady.load(ordering: .acquiring) && skip.contains(page)
    }

    var hasSkipBitmap: Bool { skipReady.load(ordering: .acquiring) }
}
