/// The wire encoding of a `PageBitmap`: run lengths when the bitmap has long
/// runs, the raw bits when it does not, never much larger than the raw bits.
///
/// Format. "varint" is unsigned LEB128: 7 bits per byte, least significant
/// group first, the high bit set on every byte but the last, at most 10 bytes.
///
///     byte 0        format tag: 1 = runs, 2 = raw
///     varint        N, the number of pages
///
///   then for runs (tag 1):
///
///     1 byte        the value of the first run: 0 (clear) or 1 (set)
///     varint ...    run lengths, each >= 1, of alternating values starting with
///                   the first, summing to exactly N (no runs when N == 0)
///
///   or for raw (tag 2):
///
///     ceil(N/8) bytes  page i is bit (i % 8) of byte (i / 8); the unused high
///                      bits of the last byte are zero
///
///   and nothing after that.
///
/// Every valid bitmap has exactly one runs encoding and one raw encoding, and
/// the decoder accepts both; the encoder picks whichever is shorter.
public enum RunLengthCodec {
    /// The format tag in byte 0 of an encoding.
    public enum Format: UInt8, Sendable {
        /// Alternating run lengths.
        case runs = 1
        /// The bits themselves, 8 pages per byte.
        case raw = 2
    }

    /// The encoding of `bitmap`: runs, unless they would be larger than the raw
    /// encoding, in which case raw. The result is never larger than the raw
    /// encoding: 1 byte + the page count varint + `ceil(pageCount / 8)` bytes.
    ///
    /// Run encoding stops as soon as it outgrows the raw size, so a random
    /// bitmap costs little more than its raw encoding to encode.
    ///
    /// - Complexity: O(`pageCount` / 64 + number of runs), and O(`pageCount` / 8)
    ///   when the raw encoding is chosen.
    public static func encode(_ bitmap: PageBitmap) -> [UInt8] {
        let pageCount = bitmap.pageCount
        let rawSize = 1 + varintSize(of: UInt64(pageCount)) + rawBodySize(pageCount: pageCount)

        var bytes: [UInt8] = [Format.runs.rawValue]
        appendVarint(UInt64(pageCount), to: &bytes)
        var value = pageCount > 0 && bitmap.contains(0)
        bytes.append(value ? 1 : 0)
        var position = 0
        while position < pageCount {
            let runEnd = bitmap.firstPage(equalTo: !value, in: position..<pageCount) ?? pageCount
            appendVarint(UInt64(runEnd - position), to: &bytes)
            guard bytes.count <= rawSize else { return encodeRaw(bitmap) }
            position = runEnd
            value.toggle()
        }
        // Only reached with runs no larger than raw, except for tiny bitmaps
        // where the first-value byte alone tips the balance.
        return bytes.count <= rawSize ? bytes : encodeRaw(bitmap)
    }

    /// Decodes an encoding of a bitmap of exactly `expectedPageCount` pages.
    ///
    /// Every malformed input throws a distinct `DecodeError`, including a valid
    /// encoding of another page count: the result always has `expectedPageCount`
    /// pages. Nothing is allocated from a count read from `bytes`; the only
    /// allocation is the result, sized by `expectedPageCount`.
    ///
    /// - Precondition: `expectedPageCount >= 0`.
    /// - Complexity: O(`expectedPageCount` / 64 + `bytes.count`).
    public static func decode(
        _ bytes: some Collection<UInt8>, expectedPageCount: Int
    ) throws(DecodeError) -> PageBitmap {
        precondition(expectedPageCount >= 0, "RunLengthCodec: negative expected page count")
        let decodeContiguous = { (buffer: UnsafeBufferPointer<UInt8>) in
            Result { () throws(DecodeError) in
                var reader = ByteReader(buffer)
                return try decode(from: &reader, expectedPageCount: expectedPageCount)
            }
        }
        let result =
            bytes.withContiguousStorageIfAvailable(decodeContiguous)
            ?? Array(bytes).withUnsafeBufferPointer(decodeContiguous)
        return try result.get()
    }

    private static func decode(
        from reader: inout ByteReader, expectedPageCount: Int
    ) throws(DecodeError) -> PageBitmap {
        guard !reader.isAtEnd else { throw .emptyInput }
        let tag = try reader.readByte()
        guard let format = Format(rawValue: tag) else { throw .unknownFormatTag(tag) }
        let declaredPageCount = try reader.readVarint()
        guard declaredPageCount == UInt64(expectedPageCount) else {
            throw .pageCountMismatch(declared: declaredPageCount, expected: expectedPageCount)
        }
        let bitmap =
            switch format {
            case .runs: try decodeRuns(from: &reader, pageCount: expectedPageCount)
            case .raw: try decodeRaw(from: &reader, pageCount: expectedPageCount)
            }
        guard reader.isAtEnd else { throw .trailingBytes(count: reader.remainingCount) }
        return bitmap
    }

    private static func decodeRuns(
        from reader: inout ByteReader, pageCount: Int
    ) throws(DecodeError) -> PageBitmap {
        let firstValue = try reader.readByte()
        guard firstValue <= 1 else { throw .invalidFirstRunValue(firstValue) }
        var bitmap = PageBitmap(pageCount: pageCount)
        var value = firstValue == 1
        var position = 0
        while position < pageCount {
            let runOffset = reader.offset
            let length = try reader.readVarint()
            guard length > 0 else { throw .zeroLengthRun(offset: runOffset) }
            let pagesRemaining = pageCount - position
            guard length <= UInt64(pagesRemaining) else {
                throw .runOverflow(runLength: length, pagesRemaining: pagesRemaining)
            }
            let runEnd = position + Int(length)
            if value { bitmap.insert(contentsOf: position..<runEnd) }
            position = runEnd
            value.toggle()
        }
        return bitmap
    }

    private static func decodeRaw(
        from reader: inout ByteReader, pageCount: Int
    ) throws(DecodeError) -> PageBitmap {
        let bodySize = rawBodySize(pageCount: pageCount)
        let words = try reader.readLittleEndianWords(byteCount: bodySize)
        let paddingBits = (words.last ?? 0) & ~BitmapWords.lastWordMask(forPageCount: pageCount)
        guard paddingBits == 0 else {
            // Padding can only come from the last byte, since bytes past the body
            // read as zero.
            let lastByte = UInt8(truncatingIfNeeded: words[words.count - 1] >> (8 * ((bodySize - 1) % 8)))
            throw .nonzeroPaddingBits(lastByte: lastByte, usedBits: pageCount % 8)
        }
        return PageBitmap(validatedWords: words, pageCount: pageCount)
    }

    private static func encodeRaw(_ bitmap: PageBitmap) -> [UInt8] {
        let bodySize = rawBodySize(pageCount: bitmap.pageCount)
        var bytes: [UInt8] = [Format.raw.rawValue]
        appendVarint(UInt64(bitmap.pageCount), to: &bytes)
        bytes.reserveCapacity(bytes.count + bodySize)
        let words = bitmap.words
        for index in 0..<bodySize {
            bytes.append(UInt8(truncatingIfNeeded: words[index / 8] >> (8 * (index % 8))))
        }
        return bytes
    }

    private static func rawBodySize(pageCount: Int) -> Int {
        // Written so that it cannot overflow for pageCount near Int.max.
        pageCount / 8 + (pageCount % 8 == 0 ? 0 : 1)
    }

    private static func varintSize(of value: UInt64) -> Int {
        max(1, (UInt64.bitWidth - value.leadingZeroBitCount + 6) / 7)
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}

/// Reads an encoding front to back: the one place the decoder touches the
/// input's memory, each read checked against its end first.
private struct ByteReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    private(set) var offset = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { offset == bytes.count }
    var remainingCount: Int { bytes.count - offset }

    mutating func readByte() throws(RunLengthCodec.DecodeError) -> UInt8 {
        guard offset < bytes.count else {
            throw .truncated(length: bytes.count, minimumLength: offset + 1)
        }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes that fits in 64 bits.
    mutating func readVarint() throws(RunLengthCodec.DecodeError) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        for group in 0..<10 {
            let byte = try readByte()
            // The tenth byte holds only bit 63: anything more overflows, including
            // a continuation bit that would make the varint longer than 10 bytes.
            guard group < 9 || byte <= 1 else { throw .varintOverflow(offset: start) }
            value |= UInt64(byte & 0x7F) << (7 * UInt64(group))
            if byte & 0x80 == 0 { break }
        }
        return value
    }

    /// Reads `byteCount` bytes as little-endian 64-bit words, the last one
    /// zero-extended.
    mutating func readLittleEndianWords(byteCount: Int) throws(RunLengthCodec.DecodeError) -> [UInt64] {
        guard byteCount <= remainingCount else {
            throw .truncated(length: bytes.count, minimumLength: offset + byteCount)
        }
        var words = [UInt64](repeating: 0, count: byteCount / 8 + (byteCount % 8 == 0 ? 0 : 1))
        for index in 0..<byteCount {
            words[index / 8] |= UInt64(bytes[offset + index]) << (8 * UInt64(index % 8))
        }
        offset += byteCount
        return words
    }
}
