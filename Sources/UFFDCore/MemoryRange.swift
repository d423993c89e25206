#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// The base page size of this machine, `sysconf(_SC_PAGESIZE)`, read once.
public enum SystemPage {
    /// Bytes in one base page (4096 on x86-64).
    public static let size: Int = {
        let value = sysconf(Int32(_SC_PAGESIZE))
        precondition(value > 0 && value & (value - 1) == 0, "sysconf(_SC_PAGESIZE) returned \(value)")
        return value
    }()

    /// Whether `value` is a multiple of the page size.
    @inline(__always)
    public static func isAligned(_ value: UInt) -> Bool { value & UInt(size - 1) == 0 }

    /// Whether `value` is a multiple of the page size.
    @inline(__always)
    public static func isAligned(_ value: Int) -> Bool { value & (size - 1) == 0 }
}

/// A range of virtual addresses in this process: `start ..< start + length`.
///
/// Addresses are plain integers because that is what the kernel reports in
/// `uffd_msg` and what the `uffdio_*` structures carry; turning one into a
/// pointer is the caller's decision.
public struct MemoryRange: Hashable, Sendable, CustomStringConvertible {
    /// The first address.
    public var start: UInt
    /// The length in bytes.
    public var length: Int

    /// A range of `length` bytes from `start`.
    @inlinable
    public init(start: UInt, length: Int) {
        precondition(length >= 0, "negative length \(length)")
        self.start = start
        self.length = length
    }

    /// The bytes of `buffer`.
    @inlinable
    public init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.init(start: UInt(bitPattern: buffer.baseAddress), length: buffer.count)
    }

    /// The bytes from `pointer` for `length` bytes.
    @inlinable
    public init(_ pointer: UnsafeRawPointer, length: Int) {
        self.init(start: UInt(bitPattern: pointer), length: length)
    }

    /// The address just past the range.
    @inlinable
    public var end: UInt { start + UInt(length) }

    /// Whether start and length are both multiples of the page size.
    public var isPageAligned: Bool {
        SystemPage.isAligned(start) && SystemPage.isAligned(length)
    }

    /// Whether `address` lies inside the range.
    @inlinable
    public func contains(_ address: UInt) -> Bool { address >= start && address < end }

    /// A sub-range of whole pages: `pages` pages from page `firstPage` of this range.
    @inlinable
    public func pages(_ firstPage: Int, count pages: Int) -> MemoryRange {
        let size = SystemPage.size
        precondition(firstPage >= 0 && pages >= 0 && (firstPage + pages) * size <= length,
                     "pages \(firstPage)..<\(firstPage + pages) outside \(self)")
        return MemoryRange(start: start + UInt(firstPage * size), length: pages * size)
    }

    public var description: String {
        "[0x" + String(start, radix: 16) + ", +0x" + String(length, radix: 16) + ")"
    }
}

extension MemoryRange {
    /// Drops the pages of this range (`madvise(MADV_DONTNEED)`): private
    /// anonymous memory reads as zero afterwards. On a range registered with a
    /// userfaultfd that asked for `.eventRemove`, the call waits until that
    /// event is read.
    public func discardPages() throws(UFFDError) {
        guard isPageAligned else { throw UFFDError(.discard, range: self, .misaligned) }
        _ = try Syscall.retryingInterrupts { madvise(UnsafeMutableRawPointer(bitPattern: start), length, MADV_DONTNEED) }
            .mapError { UFFDError(.discard, range: self, .system($0)) }.get()
    }
}

extension MemoryRange {
    /// Sets whether a child made by `fork()` inherits this range
    /// (`madvise(MADV_DOFORK)`) or gets no mapping there at all
    /// (`madvise(MADV_DONTFORK)`).
    public func setInheritedByFork(_ inherited: Bool) throws(UFFDError) {
        guard isPageAligned else { throw UFFDError(.forkInheritance, range: self, .misaligned) }
        let advice = inherited ? MADV_DOFORK : MADV_DONTFORK
        _ = try Syscall.retryingInterrupts { madvise(UnsafeMutableRawPointer(bitPattern: start), length, advice) }
            .mapError { UFFDError(.forkInheritance, range: self, .system($0)) }.get()
    }
}
