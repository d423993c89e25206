#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemPackage

/// A region of virtual memory mapped with `mmap(2)` and unmapped with
/// `munmap(2)` when the instance goes away: the memory a userfaultfd serves.
///
/// While a range of it is registered with a userfaultfd that asked for
/// `.eventUnmap` (or `.eventRemap`), the kernel makes `munmap` wait until the
/// event is read: unregister, or close the userfaultfd, before the last
/// reference goes unless a thread still reads its events.
public final class MemoryMapping: @unchecked Sendable {
    // @unchecked: the fields never change after init but for `relinquished`,
    // behind its mutex; the memory itself is shared on purpose (that is what
    // the faulting threads and resolvers do).

    /// The first byte.
    public let base: UnsafeMutableRawPointer
    /// Bytes mapped, a multiple of the page size.
    public let length: Int
    /// Parts no longer this mapping's to unmap (see `relinquish`).
    private let relinquished = LockedValue<[MemoryRange]>([])

    /// Private anonymous memory of `length` bytes (rounded up to whole pages),
    /// not populated: every page is missing until touched or resolved.
    public convenience init(anonymousLength length: Int) throws(UFFDError) {
        try self.init(length: length, protection: PROT_READ | PROT_WRITE, flags: MAP_PRIVATE | MAP_ANONYMOUS, fd: -1)
    }

    /// A shared mapping of `fd` (a memfd or shmem file) from offset 0.
    public convenience init(sharing fd: FileDescriptor, length: Int) throws(UFFDError) {
        try self.init(length: length, protection: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: fd.rawValue)
    }

    /// A private, read-only mapping of `length` bytes of `fd` from offset 0:
    /// an image file served as a region.
    public convenience init(readingFile fd: FileDescriptor, length: Int) throws(UFFDError) {
        try self.init(length: length, protection: PROT_READ, flags: MAP_PRIVATE, fd: fd.rawValue)
    }

    private init(length: Int, protection: Int32, flags: Int32, fd: Int32) throws(UFFDError) {
        precondition(length > 0, "mapping of \(length) bytes")
        let rounded = (length + SystemPage.size - 1) & ~(SystemPage.size - 1)
        guard let pointer = mmap(nil, rounded, protection, flags, fd, 0), pointer != MAP_FAILED else {
            throw UFFDError(.mmap, range: MemoryRange(start: 0, length: rounded), .system(Errno(rawValue: Glibc.errno)))
        }
        base = pointer
        self.length = rounded
    }

    deinit {
        // Unmap only what is still ours: an address range the application
        // unmapped (or moved away) may since hold someone else's memory.
        var start = range.start
        for gone in relinquished.withLock({ $0 }).sorted(by: { $0.start < $1.start }) where gone.end > start {
            if gone.start > start { unmap(MemoryRange(start: start, length: Int(gone.start - start))) }
            start = max(start, gone.end)
        }
        if start < range.end { unmap(MemoryRange(start: start, length: Int(range.end - start))) }
    }

    private func unmap(_ part: MemoryRange) {
        let result = munmap(UnsafeMutableRawPointer(bitPattern: part.start), part.length)
        assert(result == 0, "munmap \(part) failed: errno \(Glibc.errno)")
    }

    /// Gives up `part` (clipped to the mapping): it was unmapped or moved away
    /// by someone else, and its addresses may be reused, so `deinit` must not
    /// unmap them.
    public func relinquish(_ part: MemoryRange) {
        let start = max(part.start, range.start), end = min(part.end, range.end)
        guard start < end else { return }
        relinquished.withLock { $0.append(MemoryRange(start: start, length: Int(end - start))) }
    }

    /// The whole mapping as a range.
    public var range: MemoryRange { MemoryRange(base, length: length) }

    /// Number of pages.
    public var pageCount: Int { length / SystemPage.size }

    /// The address of page `index`.
    @inline(__always)
    public func page(_ index: Int) -> UnsafeMutableRawPointer {
        assert(index >= 0 && index < pageCount, "page \(index) outside a \(pageCount)-page mapping")
        return base + index * SystemPage.size
    }
}
