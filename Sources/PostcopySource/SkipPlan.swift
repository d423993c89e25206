import Bitmaps
import UFFDCore

/// Which pages of a region need not travel, by reason.
///
/// The classes are kept apart for the statistics and computed in this order,
/// each only over pages no earlier class claimed: declared free pages (their
/// content is garbage by definition), pages never populated (they read as
/// zero and cost nothing to skip), then pages whose bytes are all zero (which
/// must be read to be known).
public struct SkipPlan: Sendable {
    /// Pages the caller declared free (free-page hints, ballooned memory).
    public var free: PageBitmap
    /// Pages `/proc/self/pagemap` shows were never populated (or, for an
    /// image file, lie in a hole).
    public var neverPopulated: PageBitmap
    /// Pages that hold only zero bytes.
    public var zero: PageBitmap
    /// Everything the destination must not request: the union of the three.
    public var skip: PageBitmap

    /// The number of pages in the region.
    public var pageCount: Int { skip.pageCount }

    /// Pages that must be sent.
    public var dataPages: Int { pageCount - skip.count }

    /// Classifies the pages of `base ..< base + pageCount * pageSize`.
    ///
    /// - Parameters:
    ///   - free: Pages declared free.
    ///   - residency: Which pages are populated, when known (memory of this
    ///     process); nil scans every page for zeros.
    ///   - scanZero: Whether to read populated pages looking for all-zero ones.
    /// - Complexity: O(pages); reads every populated page not declared free
    ///   when `scanZero` (at memory bandwidth).
    public init(base: UnsafeRawPointer, pageCount: Int, free: PageBitmap, populated: PageBitmap?, scanZero: Bool) {
        precondition(free.pageCount == pageCount, "free bitmap of \(free.pageCount) pages for \(pageCount)")
        self.free = free
        var neverPopulated = populated.map { $0.complement() } ?? PageBitmap(pageCount: pageCount)
        neverPopulated.subtract(free)
        self.neverPopulated = neverPopulated
        var zero = PageBitmap(pageCount: pageCount)
        if scanZero {
            let known = free.union(neverPopulated)
            let pageSize = SystemPage.size
            // Scan only the runs nobody has classified yet, so free and
            // unpopulated memory is never read (nor faulted in).
            for run in known.runs(of: false) {
                let found = ZeroPageScanner.scan(startingAt: base + run.lowerBound * pageSize, pageCount: run.count)
                for zeroRun in found.runs(of: true) {
                    zero.insert(contentsOf: (run.lowerBound + zeroRun.lowerBound)..<(run.lowerBound + zeroRun.upperBound))
                }
            }
        }
        self.zero = zero
        self.skip = free.union(neverPopulated).union(zero)
    }

    /// A plan that skips nothing: every page travels (for measuring what
    /// skipping buys).
    public init(sendingEverything pageCount: Int) {
        free = PageBitmap(pageCount: pageCount)
        neverPopulated = free
        zero = free
        skip = free
    }
}
