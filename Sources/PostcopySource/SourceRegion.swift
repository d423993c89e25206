#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire
import SystemPackage
import UFFDCore

/// The memory a source serves: bytes in this process, or an image file.
public final class SourceRegion: @unchecked Sendable {
    // @unchecked: immutable after init; the memory is only read.

    /// The first byte.
    public let base: UnsafeRawPointer
    /// Bytes, a multiple of the page size.
    public let length: Int
    /// Keeps an image file's mapping alive.
    private let mapping: MemoryMapping?
    /// The region as the wire names it.
    let geometry: Geometry
    /// Which pages are populated, when that can be known cheaply.
    let populated: PageBitmap?

    /// Serves `length` bytes at `base` in this process. The memory must stay
    /// mapped and unchanged while it is served.
    ///
    /// Populated pages are read from `/proc/self/pagemap`, so never-touched
    /// pages are skipped without being read.
    ///
    /// - Throws: `SourceError.regionNotPageAligned`; `WireError.badRegionLength`
    ///   for more than `Geometry.maxPageCount` pages, before any scanning.
    public init(memory base: UnsafeRawPointer, length: Int) throws {
        guard length > 0, SystemPage.isAligned(UInt(bitPattern: base)), SystemPage.isAligned(length) else {
            throw SourceError.regionNotPageAligned(address: UInt(bitPattern: base), length: length)
        }
        // The wire names pages by u32 index: refuse what it cannot name before scanning it.
        geometry = try Geometry(pageSize: SystemPage.size, pageCount: length / SystemPage.size)
        self.base = base
        self.length = length
        mapping = nil
        let scanner = try PagemapScanner()
        populated = try scanner.scan(UnsafeRawBufferPointer(start: base, count: length)).populated
    }

    /// Serves the bytes of an image file, mapped read-only. Its length must be
    /// a whole number of pages. Holes of a sparse file count as never populated.
    public init(imageAt path: FilePath) throws {
        let fd = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
        defer { try? fd.close() }
        let size = try fd.seek(offset: 0, from: .end)
        guard size > 0, SystemPage.isAligned(Int(size)) else {
            throw SourceError.imageNotPageAligned(path: path.string, size: Int(size))
        }
        geometry = try Geometry(pageSize: SystemPage.size, pageCount: Int(size) / SystemPage.size)
        let mapping = try MemoryMapping(readingFile: fd, length: Int(size))
        self.mapping = mapping
        base = UnsafeRawPointer(mapping.base)
        length = Int(size)
        populated = Self.dataExtents(of: fd, pageCount: Int(size) / SystemPage.size)
    }

    /// lseek whences of Linux 3.1+; Glibc's Swift module hides them behind _GNU_SOURCE.
    private static let seekData: Int32 = 3, seekHole: Int32 = 4

    /// Pages holding file data per `lseek(SEEK_DATA/SEEK_HOLE)`; nil where the
    /// file system cannot say (then every page is scanned).
    private static func dataExtents(of fd: FileDescriptor, pageCount: Int) -> PageBitmap? {
        let pageSize = SystemPage.size
        let end = pageCount * pageSize
        var data = PageBitmap(pageCount: pageCount)
        var offset = 0
        while offset < end {
            let start = lseek(fd.rawValue, off_t(offset), seekData)
            if start < 0 { return errno == ENXIO ? data : nil }  // ENXIO: no data past offset
            let hole = lseek(fd.rawValue, start, seekHole)
            if hole < 0 { return nil }
            // Data extents need not be page-aligned: any page touching data is data.
            let first = Int(start) / pageSize
            let last = min(pageCount, (Int(hole) + pageSize - 1) / pageSize)
            data.insert(contentsOf: first..<last)
            offset = Int(hole)
        }
        return data
    }

    /// Pages in the region.
    public var pageCount: Int { length / SystemPage.size }

    /// The bytes of pages `first ..< first + count`.
    @inline(__always)
    func pages(_ first: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + first * SystemPage.size, count: count * SystemPage.size)
    }
}

/// Why a source could not serve.
public enum SourceError: Error, Sendable, Equatable, CustomStringConvertible, PeerReportable {
    case regionNotPageAligned(address: UInt, length: Int)
    case imageNotPageAligned(path: String, size: Int)
    case freeRangeOutsideRegion(start: Int, end: Int, length: Int)
    case badFreeRangeLine(number: Int, text: String)
    case unexpectedLane(expected: String, got: String)
    case sessionMismatch(expected: UInt64, got: UInt64)
    case unexpectedFrame(state: String, frame: String)
    case completeTooEarly(pagesNotSent: Int)
    case completeCountMismatch(claimed: Int, pageCount: Int)
    case connectionLost(before: String, underlying: String)
    case acceptTimedOut(lane: String)
    case badBatchSize(Int, maximum: Int)
    case recoveryTimedOut(seconds: Double, cause: String)

    /// What the destination is told: a frame out of place is its fault;
    /// everything else failed here.
    public var wireErrorCode: WireErrorCode {
        switch self {
        case .unexpectedLane, .sessionMismatch, .unexpectedFrame, .completeTooEarly, .completeCountMismatch:
            return .protocolViolation
        case .regionNotPageAligned, .imageNotPageAligned, .freeRangeOutsideRegion, .badFreeRangeLine,
             .connectionLost, .acceptTimedOut, .badBatchSize, .recoveryTimedOut:
            return .internal
        }
    }

    public var description: String {
        switch self {
        case .regionNotPageAligned(let address, let length):
            "the region at 0x\(String(address, radix: 16)) of \(length) bytes is not whole pages"
        case .imageNotPageAligned(let path, let size):
            "image \(path) is \(size) bytes, not a non-zero multiple of the page size (\(SystemPage.size))"
        case .freeRangeOutsideRegion(let start, let end, let length):
            "free range \(start)..<\(end) lies outside the \(length)-byte region"
        case .badFreeRangeLine(let number, let text):
            "free-ranges line \(number) is not 'START LENGTH' or 'START-END' (bytes, decimal or 0x hex): \(text)"
        case .unexpectedLane(let expected, let got):
            "expected the destination's \(expected) lane, but it joined as \(got)"
        case .sessionMismatch(let expected, let got):
            "bulk lane joined session \(got), not this migration's session \(expected)"
        case .unexpectedFrame(let state, let frame):
            "unexpected \(frame) frame \(state)"
        case .completeTooEarly(let pagesNotSent):
            "the destination reported completion while \(pagesNotSent) pages were never sent"
        case .completeCountMismatch(let claimed, let pageCount):
            "the destination reported holding \(claimed) pages of \(pageCount)"
        case .connectionLost(let before, let underlying):
            "the connection to the destination was lost before \(before): \(underlying)"
        case .acceptTimedOut(let lane):
            "no destination connected its \(lane) lane in time"
        case .badBatchSize(let pages, let maximum):
            "a background batch of \(pages) pages is outside 1...\(maximum) (a frame carries at most 16 MiB)"
        case .recoveryTimedOut(let seconds, let cause):
            "the connection to the destination was lost (\(cause)) and it did not reconnect within \(seconds) s"
        }
    }
}
