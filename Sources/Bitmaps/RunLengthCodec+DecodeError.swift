extension RunLengthCodec {
    /// Why an input is not a valid encoding of a bitmap of the expected size.
    ///
    /// Offsets and lengths are in bytes from the start of the input.
    public enum DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The input has no bytes.
        case emptyInput
        /// Byte 0 is neither 1 (runs) nor 2 (raw).
        case unknownFormatTag(UInt8)
        /// The encoding is of `declared` pages, but the caller expects `expected`.
        case pageCountMismatch(declared: UInt64, expected: Int)
        /// The input of `length` bytes ended inside a varint, before the runs
        /// covered every page, or before the raw body; at least `minimumLength`
        /// bytes were needed.
        case truncated(length: Int, minimumLength: Int)
        /// The varint starting at `offset` is longer than 10 bytes or exceeds 64 bits.
        case varintOverflow(offset: Int)
        /// A run of `runLength` pages would pass the end, with only
        /// `pagesRemaining` pages left.
        case runOverflow(runLength: UInt64, pagesRemaining: Int)
        /// The run length at `offset` is zero.
        case zeroLengthRun(offset: Int)
        /// The first-run value byte is neither 0 nor 1.
        case invalidFirstRunValue(UInt8)
        /// The last raw byte, of which only the low `usedBits` bits hold pages,
        /// has higher bits set.
        case nonzeroPaddingBits(lastByte: UInt8, usedBits: Int)
        /// `count` bytes follow the end of the encoding.
        case trailingBytes(count: Int)

        public var description: String {
            switch self {
            case .emptyInput:
                "page bitmap encoding is empty"
            case .unknownFormatTag(let tag):
                "page bitmap encoding has unknown format tag \(tag) (expected 1 or 2)"
            case .pageCountMismatch(let declared, let expected):
                "page bitmap encoding declares \(declared) pages, expected \(expected)"
            case .truncated(let length, let minimumLength):
                "page bitmap encoding is truncated: \(length) bytes, at least \(minimumLength) needed"
            case .varintOverflow(let offset):
                "page bitmap encoding has a varint at byte \(offset) longer than 10 bytes or over 64 bits"
            case .runOverflow(let runLength, let pagesRemaining):
                "page bitmap encoding has a run of \(runLength) pages with only \(pagesRemaining) pages left"
            case .zeroLengthRun(let offset):
                "page bitmap encoding has a zero-length run at byte \(offset)"
            case .invalidFirstRunValue(let value):
                "page bitmap encoding has first-run value \(value) (expected 0 or 1)"
            case .nonzeroPaddingBits(let lastByte, let usedBits):
                "page bitmap encoding's last byte \(lastByte) has bits set above its \(usedBits) used bits"
            case .trailingBytes(let count):
                "page bitmap encoding is followed by \(count) trailing bytes"
            }
        }
    }
}
