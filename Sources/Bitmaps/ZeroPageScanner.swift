/// Finds pages whose bytes are all zero, 64 bytes per vector load.
///
/// Reading a never-populated page of anonymous memory maps the shared zero page
/// (no allocation), and such a page is reported as zero.
public enum ZeroPageScanner {
    /// The page size scanned: the system's.
    public static var pageSize: Int { systemPageSize }

    /// Sixty-four bytes: one cache line, and four SSE or two AVX registers.
    private typealias Chunk = SIMD8<UInt64>
    private static let chunkSize = MemoryLayout<Chunk>.size
    /// The bytes OR-reduced before each test for nonzero.
    private static let blockSize = 4 * chunkSize

    /// The pages among the `pageCount` pages starting at `base` whose bytes are
    /// all zero; page `i` of the result is the page at `base + i * pageSize`.
    ///
    /// - Precondition: `base` is page-aligned, `pageCount >= 0`, and the pages
    ///   are readable.
    /// - Complexity: O(`pageCount` * `pageSize`) for zero pages; a page with a
    ///   nonzero byte in its first 64 bytes costs one vector load.
    public static func scan(startingAt base: UnsafeRawPointer, pageCount: Int) -> PageBitmap {
        precondition(pageCount >= 0, "ZeroPageScanner: negative page count \(pageCount)")
        checkAligned(base)
        let pageSize = pageSize
        var zeroPages = PageBitmap(pageCount: pageCount)
        for page in 0..<pageCount where pageIsZero(base + page * pageSize, size: pageSize) {
            zeroPages.insert(page)
        }
        return zeroPages
    }

    /// Whether every byte of the page at `page` is zero.
    ///
    /// - Precondition: `page` is page-aligned and readable.
    /// - Complexity: O(`pageSize`); one vector load when a byte of the first 64 is nonzero.
    public static func isZero(page: UnsafeRawPointer) -> Bool {
        checkAligned(page)
        return pageIsZero(page, size: pageSize)
    }

    private static func checkAligned(_ pointer: UnsafeRawPointer) {
        precondition(
            UInt(bitPattern: pointer) % UInt(pageSize) == 0,
            "ZeroPageScanner: \(pointer) is not page-aligned")
    }

    private static func pageIsZero(_ page: UnsafeRawPointer, size pageSize: Int) -> Bool {
        // Page sizes are powers of two of at least 4 KiB, so whole blocks tile a
        // page and every load below is aligned.
        assert(pageSize % blockSize == 0)
        // Most data pages have a nonzero byte near their start (a header, a
        // pointer, a length), so one chunk rejects them before the OR-reduction.
        guard page.load(as: Chunk.self) == .zero else { return false }
        let restOfFirstBlock =
            page.load(fromByteOffset: chunkSize, as: Chunk.self)
            | page.load(fromByteOffset: 2 * chunkSize, as: Chunk.self)
            | page.load(fromByteOffset: 3 * chunkSize, as: Chunk.self)
        guard restOfFirstBlock == .zero else { return false }
        var offset = blockSize
        while offset < pageSize {
            let block =
                page.load(fromByteOffset: offset, as: Chunk.self)
                | page.load(fromByteOffset: offset + chunkSize, as: Chunk.self)
                | page.load(fromByteOffset: offset + 2 * chunkSize, as: Chunk.self)
                | page.load(fromByteOffset: offset + 3 * chunkSize, as: Chunk.self)
            guard block == .zero else { return false }
            offset += blockSize
        }
        return true
    }
}
