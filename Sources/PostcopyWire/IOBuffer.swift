/// Page-aligned memory that frames are received into.
///
/// The only type in the module that does pointer arithmetic on buffers. Every
/// operation checks its byte range against the allocation first, so nothing
/// built on it can read or write outside it, whatever a peer sends. Not
/// copyable: it owns its memory, and one reader uses it at a time.
struct IOBuffer: ~Copyable {
    /// Page alignment, so page data can go to `UFFDIO_COPY` as it lies.
    static let alignment = 4096

    private var storage: UnsafeMutableRawBufferPointer

    /// A buffer of `capacity` bytes; 0 allocates nothing until `reserve`.
    init(capacity: Int) {
        storage = Self.allocate(capacity)
    }

    deinit { storage.deallocate() }

    /// Bytes the buffer holds.
    var capacity: Int { storage.count }

    /// Makes room for at least `capacity` bytes. The contents are discarded,
    /// not copied: callers grow only a buffer they are about to overwrite.
    mutating func reserve(discarding capacity: Int) {
        guard capacity > storage.count else { return }
        storage.deallocate()
        storage = Self.allocate(capacity)
    }

    /// The little-endian integer stored at `offset`.
    func load<Value: FixedWidthInteger>(_: Value.Type, at offset: Int) -> Value {
        check(offset..<offset + MemoryLayout<Value>.size)
        return Value(littleEndian: storage.loadUnaligned(fromByteOffset: offset, as: Value.self))
    }

    /// Appends the bytes in `range` to `array`.
    func append(_ range: Range<Int>, to array: inout [UInt8]) {
        check(range)
        array.append(contentsOf: UnsafeRawBufferPointer(rebasing: storage[range]))
    }

    /// Copies the bytes in `range` into `other`, starting at `offset`.
    func copy(_ range: Range<Int>, to other: inout IOBuffer, at offset: Int) {
        check(range)
        other.check(offset..<offset + range.count)
        guard !range.isEmpty else { return }
        other.storage.baseAddress!.advanced(by: offset)
            .copyMemory(from: storage.baseAddress!.advanced(by: range.lowerBound), byteCount: range.count)
    }

    /// Moves the bytes in `range` to the start of the buffer (they may overlap).
    mutating func moveToFront(_ range: Range<Int>) {
        check(range)
        guard !range.isEmpty, range.lowerBound > 0 else { return }
        storage.baseAddress!.copyMemory(from: storage.baseAddress!.advanced(by: range.lowerBound),
                                        byteCount: range.count)
    }

    /// Calls `body` with the bytes in `range` to write into, for a `recv`.
    mutating func withWritableBytes<Result>(
        _ range: Range<Int>, _ body: (UnsafeMutableRawBufferPointer) throws(WireError) -> Result
    ) throws(WireError) -> Result {
        check(range)
        return try body(UnsafeMutableRawBufferPointer(rebasing: storage[range]))
    }

    /// The bytes in `range`; valid until the buffer is next grown or freed.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        check(range)
        return range.isEmpty ? UnsafeRawBufferPointer(start: nil, count: 0)
                             : UnsafeRawBufferPointer(rebasing: storage[range])
    }

    private func check(_ range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= storage.count,
                     "bytes \(range) outside a \(storage.count)-byte buffer")
    }

    private static func allocate(_ count: Int) -> UnsafeMutableRawBufferPointer {
        count == 0 ? UnsafeMutableRawBufferPointer(start: nil, count: 0)
                   : .allocate(byteCount: count, alignment: alignment)
    }
}
