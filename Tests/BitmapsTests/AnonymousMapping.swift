import Glibc
import Testing

/// A private anonymous mapping for tests, unmapped when it goes away; callers
/// keep it alive with `withExtendedLifetime` past their last use of its pointer.
final class AnonymousMapping {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    init(pageCount: Int) throws {
        byteCount = pageCount * Self.pageSize
        let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        base = try #require(address == MAP_FAILED ? nil : address, "mmap failed: errno \(errno)")
        // Transparent huge pages would populate 512 pages for one write, so a test
        // could not choose exactly which pages are present.
        try #require(madvise(base, byteCount, MADV_NOHUGEPAGE) == 0, "madvise failed: errno \(errno)")
    }

    deinit {
        munmap(base, byteCount)
    }

    var addresses: Range<UInt> {
        UInt(bitPattern: base)..<UInt(bitPattern: base) + UInt(byteCount)
    }

    func page(_ index: Int) -> UnsafeMutableRawPointer {
        base + index * Self.pageSize
    }
}
