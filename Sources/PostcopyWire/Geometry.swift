/// The shape of the migrated region: its page size and how many pages it has.
///
/// Always valid: the page size is a power of two in 4 KiB...2 MiB and the
/// region holds at least one page, at most `maxPageCount` pages and at most
/// `maxRegionLength` bytes, so `regionLength` and every in-range
/// `offset + count * pageSize` fit in an `Int` without overflow checks at the
/// call sites, and every page index fits the wire's u32 fields.
public struct Geometry: Sendable, Equatable, CustomStringConvertible {
    /// Bytes per page.
    public let pageSize: Int
    /// Pages in the region.
    public let pageCount: Int

    /// Bytes in the region: `pageCount * pageSize`.
    public var regionLength: Int { pageCount * pageSize }

    /// The page sizes the protocol allows (powers of two in this range).
    public static let pageSizes = 4096...(2 << 20)

    /// The largest region: 128 TiB, the x86-64 user address space.
    public static let maxRegionLength = 1 << 47

    /// The most pages a region may have: the wire names pages by u32 index
    /// (16 TiB of 4 KiB pages; 2 MiB pages reach `maxRegionLength` first).
    public static let maxPageCount = Int(UInt32.max)

    /// A geometry of `pageCount` pages of `pageSize` bytes.
    ///
    /// - Throws: `.badPageSize` or `.badRegionLength`.
    public init(pageSize: Int, pageCount: Int) throws(WireError) {
        try Self.validate(pageSize: pageSize)
        let (length, overflow) = pageCount.multipliedReportingOverflow(by: pageSize)
        guard pageCount > 0, pageCount <= Self.maxPageCount, !overflow, length <= Self.maxRegionLength else {
            throw .badRegionLength(overflow || pageCount < 0 ? .max : UInt64(length), pageSize: pageSize)
        }
        self.pageSize = pageSize
        self.pageCount = pageCount
    }

    /// A geometry of `regionLength` bytes in pages of `pageSize` bytes, as
    /// HELLO states it.
    ///
    /// - Throws: `.badPageSize`, or `.badRegionLength` when the length is
    ///   zero, not a multiple of the page size, or too large.
    public init(pageSize: Int, regionLength: UInt64) throws(WireError) {
        try Self.validate(pageSize: pageSize)
        guard regionLength > 0, regionLength <= UInt64(Self.maxRegionLength),
              regionLength % UInt64(pageSize) == 0, regionLength / UInt64(pageSize) <= UInt64(Self.maxPageCount) else {
            throw .badRegionLength(regionLength, pageSize: pageSize)
        }
        self.pageSize = pageSize
        self.pageCount = Int(regionLength) / pageSize
    }

    private static func validate(pageSize: Int) throws(WireError) {
        guard pageSizes.contains(pageSize), pageSize & (pageSize - 1) == 0 else { throw .badPageSize(pageSize) }
    }

    /// Checks that `count` pages from byte `offset` lie inside the region and
    /// that `offset` is page-aligned (PAGES and ZERO).
    ///
    /// - Throws: `.zeroCount`, `.offsetUnaligned` or `.offsetOutOfRange`.
    /// - Returns: `offset` as an `Int`, which it then is guaranteed to fit.
    @discardableResult
    public func checkRange(offset: UInt64, count: Int) throws(WireError) -> Int {
        guard count > 0 else { throw .zeroCount }
        guard offset % UInt64(pageSize) == 0 else { throw .offsetUnaligned(offset: offset, pageSize: pageSize) }
        // count <= pageCount first, so the multiplication cannot overflow.
        guard count <= pageCount, offset <= UInt64(regionLength - count * pageSize) else {
            throw .offsetOutOfRange(offset: offset, count: count, regionLength: regionLength)
        }
        return Int(offset)
    }

    /// Checks that `count` pages from page `index` lie inside the region, as
    /// the wire names them, and returns the first one's byte offset.
    ///
    /// - Throws: `.zeroCount` or `.offsetOutOfRange`.
    /// - Complexity: O(1).
    @discardableResult
    public func checkRange(page index: UInt32, count: Int) throws(WireError) -> Int {
        // A u32 index times a page size of at most 2^21 cannot overflow a u64.
        try checkRange(offset: UInt64(index) * UInt64(pageSize), count: count)
    }

    /// The wire's u32 index of the page at byte `offset`.
    ///
    /// - Precondition: `offset` starts a page inside the region (checked
    ///   with `checkRange` first).
    func pageIndex(ofOffset offset: Int) -> UInt32 {
        assert(offset >= 0 && offset % pageSize == 0 && offset < regionLength, "offset \(offset) starts no page of \(self)")
        return UInt32(offset / pageSize)
    }

    /// Checks that byte `offset` starts a page inside the region (REQUEST).
    ///
    /// - Throws: `.offsetUnaligned` or `.offsetOutOfRange`.
    /// - Returns: `offset` as an `Int`.
    @discardableResult
    public func checkPage(offset: UInt64) throws(WireError) -> Int {
        try checkRange(offset: offset, count: 1)
    }

    /// Throws `.geometryMismatch` naming both sides' values unless `other`
    /// equals this geometry; `peer` says whose `other` is, for the message.
    public func check(matches other: Geometry, peer: String = "the peer") throws(WireError) {
        guard other != self else { return }
        throw .geometryMismatch("\(peer) has \(other); this side has \(self)")
    }

    public var description: String {
        "\(pageCount) pages of \(pageSize) bytes (\(regionLength) bytes)"
    }
}
