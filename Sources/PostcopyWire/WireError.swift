import SystemPackage

/// Why a frame could not be sent or received, or a connection not made.
///
/// One error type for the module. Every case carries the numbers that were
/// wrong, and `description` is a sentence an operator can act on. `code` is
/// what to put in the ERROR frame that tells the peer.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    // MARK: Framing

    /// JOIN or HELLO began with this instead of `Wire.magic`.
    case badMagic(UInt32)
    /// JOIN or HELLO carried a protocol version other than `Wire.version`.
    case unsupportedVersion(UInt16)
    /// The header's type byte names no frame type.
    case unknownFrameType(UInt8)
    /// A field that must be zero was not; `field` names it.
    case nonzeroReserved(field: String)
    /// A frame's body length is not the one its type and fields require.
    case bodyLengthMismatch(type: UInt8, expected: Int, actual: Int)
    /// A variable-length body is shorter than its fixed fields.
    case bodyTooShort(type: UInt8, minimum: Int, actual: Int)
    /// A PAGES or REQUEST body is not `fixed` bytes of fields followed by
    /// whole `unit`s (pages, or 4-byte page indices).
    case bodyNotWholeUnits(type: UInt8, fixed: Int, unit: Int, actual: Int)
    /// The header announced a body longer than `FrameLimits.maxBodyLength`.
    case oversizedFrame(length: Int, limit: Int)
    /// The stream ended inside a frame: `received` of its `expected` bytes
    /// (header included) had arrived. `expected` is 8, the header, while the
    /// header itself is incomplete.
    case truncated(expected: Int, received: Int)
    /// The stream ended cleanly, between frames.
    case connectionClosed

    // MARK: Fields

    /// A page range (`count` pages from byte `offset`) reaches past the region.
    case offsetOutOfRange(offset: UInt64, count: Int, regionLength: Int)
    /// A byte offset is not a multiple of the page size.
    case offsetUnaligned(offset: UInt64, pageSize: Int)
    /// PAGES, ZERO or REQUEST named zero pages.
    case zeroCount
    /// A PAGES frame said it continues the previous PAGES frame of its
    /// connection, and none had come before it.
    case continuationWithoutPrevious
    /// REQUEST named more offsets than `FrameLimits.maxRequestCount`.
    case tooManyOffsets(count: Int, limit: Int)
    /// JOIN named a lane other than 0 (urgent) or 1 (bulk).
    case unknownLane(UInt8)
    /// HELLO offered feature bits this version does not define.
    case unknownFeatures(UInt64)
    /// COMPLETE claimed more pages than the region has.
    case pagesHeldOutOfRange(pagesHeld: UInt64, pageCount: Int)
    /// BITMAP named a kind other than `Wire.skipBitmapKind`.
    case bitmapKindUnknown(UInt8)
    /// BITMAP carried no encoded bytes.
    case emptyBitmap
    /// An ERROR reason longer than `Wire.maxReasonLength` bytes.
    case reasonTooLong(Int)
    /// An ERROR reason that is not valid UTF-8.
    case invalidUTF8

    // MARK: Geometry and sequence

    /// A page size that is not a power of two in 4 KiB...2 MiB.
    case badPageSize(Int)
    /// A region length that is zero, not a multiple of the page size, or
    /// larger than `Geometry.maxRegionLength` or `Geometry.maxPageCount` pages.
    case badRegionLength(UInt64, pageSize: Int)
    /// The two sides disagree about the region; the text says how.
    case geometryMismatch(String)
    /// A frame arrived where the protocol expects another.
    case unexpectedFrame(expected: String, got: String)
    /// A frame that needs the region's geometry (BITMAP, PAGES, ZERO,
    /// REQUEST) before HELLO set it.
    case frameBeforeHandshake(type: UInt8)
    /// The peer sent an ERROR frame.
    case remote(code: UInt32, reason: String)

    // MARK: System

    /// A socket call failed; `operation` names the C call and, where there is
    /// one, the address.
    case system(operation: String, errno: Errno)
    /// `getaddrinfo(3)` could not resolve `host`; `reason` is `gai_strerror`.
    case unresolvable(host: String, reason: String)
    /// An endpoint string or value that names no socket address.
    case invalidEndpoint(String)

    /// Whether the connection was lost rather than misused: the peer or the
    /// path went away (end of stream, a frame cut short, a reset, a timeout),
    /// so a new connection may carry on where this one stopped. A frame that
    /// broke a rule, or the peer's ERROR, is not.
    public var isConnectionLoss: Bool {
        switch self {
        case .connectionClosed, .truncated:
            return true
        case .system(_, let errno):
            // EAGAIN: a receive timeout (`setReceiveTimeout`) ran out.
            return [.connectionReset, .brokenPipe, .timedOut, .connectionAbort, .noRouteToHost,
                    .networkUnreachable, .networkDown, .hostIsDown, .socketNotConnected, .connectionRefused,
                    .resourceTemporarilyUnavailable, .noSuchFileOrDirectory].contains(errno)
        default:
            return false
        }
    }

    /// The ERROR code that reports this error to the peer.
    public var code: WireErrorCode {
        switch self {
        case .unsupportedVersion:
            return .versionMismatch
        case .badPageSize, .badRegionLength, .geometryMismatch:
            return .geometryMismatch
        case .remote, .system, .unresolvable, .invalidEndpoint:
            return .internal
        case .badMagic, .unknownFrameType, .nonzeroReserved, .bodyLengthMismatch, .bodyTooShort, .bodyNotWholeUnits,
             .oversizedFrame, .truncated, .connectionClosed, .offsetOutOfRange, .offsetUnaligned,
             .zeroCount, .continuationWithoutPrevious, .tooManyOffsets, .unknownLane, .unknownFeatures,
             .pagesHeldOutOfRange, .bitmapKindUnknown, .emptyBitmap, .reasonTooLong, .invalidUTF8, .unexpectedFrame,
             .frameBeforeHandshake:
            return .protocolViolation
        }
    }

    public var description: String {
        switch self {
        case .badMagic(let magic):
            return "The peer's first frame begins with magic \(hex(magic)), not \(hex(Wire.magic)): it does not speak this protocol."
        case .unsupportedVersion(let version):
            return "The peer speaks protocol version \(version); this side speaks version \(Wire.version)."
        case .unknownFrameType(let type):
            return "Received a frame of unknown type \(type) (known types are 1...\(FrameType.allCases.count))."
        case .nonzeroReserved(let field):
            return "Received a frame whose \(field) is not zero, as this protocol version requires."
        case .bodyLengthMismatch(let type, let expected, let actual):
            return "Received a \(FrameType.name(of: type)) frame with a \(actual)-byte body; its fields require exactly \(expected) bytes."
        case .bodyTooShort(let type, let minimum, let actual):
            return "Received a \(FrameType.name(of: type)) frame with a \(actual)-byte body; it needs at least \(minimum) bytes."
        case .bodyNotWholeUnits(let type, let fixed, let unit, let actual):
            let fields = fixed > 0 ? "\(fixed) bytes of fields and then " : ""
            return "Received a \(FrameType.name(of: type)) frame with a \(actual)-byte body; it must be \(fields)whole \(unit)-byte units."
        case .oversizedFrame(let length, let limit):
            return "Received a frame header announcing a \(length)-byte body; the limit is \(limit) bytes."
        case .truncated(let expected, let received):
            return "The connection closed inside a frame: \(received) of its \(expected) bytes had arrived."
        case .connectionClosed:
            return "The peer closed the connection."
        case .offsetOutOfRange(let offset, let count, let regionLength):
            return "Pages at byte offset \(offset) (\(count) pages) reach past the end of the \(regionLength)-byte region."
        case .offsetUnaligned(let offset, let pageSize):
            return "Byte offset \(offset) is not a multiple of the page size, \(pageSize) bytes."
        case .zeroCount:
            return "Received a frame naming zero pages; a page count must be at least 1."
        case .continuationWithoutPrevious:
            return "Received a PAGES frame that continues the previous PAGES frame of its connection, but it is the first."
        case .tooManyOffsets(let count, let limit):
            return "Received a REQUEST for \(count) pages; the limit is \(limit) per frame."
        case .unknownLane(let lane):
            return "Received a JOIN for lane \(lane); lanes are 0 (urgent) and 1 (bulk)."
        case .unknownFeatures(let bits):
            return "Received a HELLO offering feature bits \(hex(bits)) that protocol version \(Wire.version) does not define."
        case .pagesHeldOutOfRange(let pagesHeld, let pageCount):
            return "Received a COMPLETE claiming \(pagesHeld) pages held; the region has \(pageCount)."
        case .bitmapKindUnknown(let kind):
            return "Received a BITMAP of unknown kind \(kind) (known: \(Wire.skipBitmapKind), skip)."
        case .emptyBitmap:
            return "Received a BITMAP with no encoded bytes."
        case .reasonTooLong(let length):
            return "An ERROR reason of \(length) bytes exceeds the limit of \(Wire.maxReasonLength) bytes."
        case .invalidUTF8:
            return "Received an ERROR whose reason is not valid UTF-8."
        case .badPageSize(let size):
            return "Page size \(size) is not a power of two between 4096 and 2097152 bytes."
        case .badRegionLength(let length, let pageSize):
            return "Region length \(length) is not a nonzero multiple of the \(pageSize)-byte page size no larger than \(Geometry.maxRegionLength) bytes and \(Geometry.maxPageCount) pages."
        case .geometryMismatch(let detail):
            return "The two sides disagree about the region: \(detail)."
        case .unexpectedFrame(let expected, let got):
            return "Expected \(expected) but received \(got)."
        case .frameBeforeHandshake(let type):
            return "Received a \(FrameType.name(of: type)) frame before HELLO set the region's geometry."
        case .remote(let code, let reason):
            let name = WireErrorCode(rawValue: code).map { " (\($0))" } ?? ""
            return "The peer reported error \(code)\(name): \(reason.isEmpty ? "no reason given" : reason)"
        case .system(let operation, let errno):
            return "\(operation) failed: \(errno) (errno \(errno.rawValue))."
        case .unresolvable(let host, let reason):
            return "Cannot resolve host \"\(host)\": \(reason)."
        case .invalidEndpoint(let detail):
            return "Invalid endpoint: \(detail)."
        }
    }
}

/// The codes an ERROR frame carries (its first field).
public enum WireErrorCode: UInt32, Sendable, CustomStringConvertible {
    /// A frame broke the protocol (malformed, out of range, out of order).
    case protocolViolation = 1
    /// The sides speak different protocol versions.
    case versionMismatch = 2
    /// The sides disagree about page size or region length.
    case geometryMismatch = 3
    /// The sender failed for a reason of its own (I/O, resources).
    case `internal` = 4
    /// The sender's user cancelled the migration.
    case cancelled = 5
    /// The sender is in another migration (a source paused for its own
    /// destination to reconnect): nothing is wrong with this connection,
    /// but it will not be served.
    case busy = 6

    public var description: String {
        switch self {
        case .protocolViolation: return "protocol violation"
        case .versionMismatch: return "version mismatch"
        case .geometryMismatch: return "geometry mismatch"
        case .internal: return "internal error"
        case .cancelled: return "cancelled"
        case .busy: return "busy with another migration"
        }
    }
}

/// `0x` and eight or sixteen hex digits.
private func hex<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, Value.bitWidth / 4 - digits.count)) + digits
}
