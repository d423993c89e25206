/// Which pages of an address range are backed by memory, as the kernel reported
/// them at one moment; page `i` is the page at `addresses.lowerBound + i * pageSize`.
public struct PageResidency: Sendable, Hashable {
    /// The page-aligned address range the bitmaps cover.
    public let addresses: Range<UInt>
    /// Pages mapped to a physical page (including the shared zero page).
    public let present: PageBitmap
    /// Pages whose contents are in swap.
    public let swapped: PageBitmap

    /// Creates a residency from its bitmaps.
    ///
    /// - Precondition: `present` and `swapped` have the same page count.
    public init(addresses: Range<UInt>, present: PageBitmap, swapped: PageBitmap) {
        precondition(
            present.pageCount == swapped.pageCount,
            "PageResidency: page counts differ (\(present.pageCount) and \(swapped.pageCount))")
        self.addresses = addresses
        self.present = present
        self.swapped = swapped
    }

    /// The number of pages in `addresses`.
    public var pageCount: Int { present.pageCount }

    /// Pages that hold data somewhere: present or swapped.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var populated: PageBitmap { present.union(swapped) }

    /// Pages that are neither present nor swapped: never written or read since
    /// they were mapped (or since they were discarded, e.g. by MADV_DONTNEED),
    /// so reading them would give zeros for anonymous memory.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var neverPopulated: PageBitmap { populated.complement() }
}
