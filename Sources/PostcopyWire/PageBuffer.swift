/// Page-aligned memory holding one PAGES frame's data, which can outlive the
/// next `receive`: `FramedSocket.movePageData(into:)` hands it over, so a
/// receiving thread can pass page data to a placing thread without copying.
///
/// One thread at a time uses a buffer; whoever took it passes it on.
public final class PageBuffer: @unchecked Sendable {
    // @unchecked: owned by one thread at a time, by contract (above); the
    // handoff between threads goes through a lock or semaphore, which orders
    // the accesses.
    fileprivate(set) var storage: IOBuffer
    fileprivate(set) var count = 0

    /// An empty buffer; it grows to the first frame it takes.
    public init() { storage = IOBuffer(capacity: 0) }

    /// The page data: page-aligned, `count` bytes.
    public var bytes: UnsafeRawBufferPointer { storage.bytes(0..<count) }

    /// Swaps memory and length with a reader's page buffer.
    func exchange(with pages: inout IOBuffer, count pageDataCount: inout Int) {
        swap(&storage, &pages)
        swap(&count, &pageDataCount)
    }
}
