/// # The postcopy wire protocol, version 3
///
/// A destination process opens two stream connections to the source: the
/// *urgent* lane carries the handshake, page requests and their answers; the
/// *bulk* lane carries the background stream of pages, so a faulting thread
/// never waits behind megabytes of them. Both lanes speak the same framing.
///
/// All integers are little-endian. Pages are named by their u32 index in
/// the region (byte offset / page size), which is why a region has at most
/// 2^32 - 1 pages.
///
/// ## Frame header (8 bytes)
///
///     bytes 0..<4   u32  bodyLength   bytes that follow the header
///     byte  4       u8   type         1...12, below
///     byte  5       u8   flags        PAGES: bit 0 set when it answers a
///                                     REQUEST, bit 1 set when it continues
///                                     (below); every other bit, and every
///                                     other type's flags, 0
///     bytes 6..<8   u16  skip         PAGES with flags bit 1: pages skipped
///                                     (below); otherwise 0
///
/// followed by `bodyLength` bytes of body, at most
/// `FrameLimits.maxBodyLength` (16 MiB + 64 by default).
///
/// ## Bodies
///
/// **1 JOIN**, destination to source, the first frame on every connection;
/// 16 bytes:
///
///     0..<4   u32  magic      0x59435043 ("CPCY" in memory order)
///     4..<6   u16  version    3
///     6       u8   lane       0 urgent, 1 bulk
///     7       u8   reserved   0
///     8..<16  u64  session    chosen by the destination, the same on both lanes
///
/// **2 HELLO**, source to destination on the urgent lane, the answer to
/// JOIN; 40 bytes:
///
///     0..<4   u32  magic          0x59435043
///     4..<6   u16  version        3
///     6..<8   u16  reserved       0
///     8..<12  u32  pageSize       a power of two in 4096...2097152
///     12..<16 u32  reserved       0
///     16..<24 u64  regionLength   a nonzero multiple of pageSize, <= 2^47
///     24..<32 u64  features       bit 0 skip bitmap, bit 1 zero replies; others 0
///     32..<40 u64  session        echoes JOIN's
///
/// **3 READY**, destination to source, urgent; empty: the destination's
/// region is registered and it is running.
///
/// **4 BITMAP**, source to destination; 8 + n bytes, n >= 1:
///
///     0       u8   kind       1 = skip: pages the destination must not request
///     1..<8   7 bytes         0
///     8..     n bytes         the encoded bitmap (opaque to this module)
///
/// **5 PAGES**, source to destination, either lane; count >= 1 pages (the
/// body length gives the count; the header's flags bit 0 says the frame
/// answers a REQUEST). Flags bit 1 clear: 4 + count * pageSize bytes,
///
///     0..<4   u32  page       first page
///     4..     count * pageSize bytes of page data
///
/// Flags bit 1 set, the frame *continues*: count * pageSize bytes of page
/// data alone. Its first page is the one after the previous PAGES frame
/// sent on the same connection, plus the header's `skip`; a continuing
/// frame with no PAGES frame before it on its connection is an error. This
/// keeps a stream that steps around pages already sent to 8 bytes a step.
///
/// **6 ZERO**, source to destination; 8 bytes: these pages are free or
/// zero, and the destination zero-fills them locally.
///
///     0..<4   u32  page       first page
///     4..<8   u32  count      >= 1
///
/// **7 REQUEST**, destination to source, urgent; 4 * count bytes, count in
/// 1...FrameLimits.maxRequestCount (the body length gives it):
///
///     0..     count u32 pages, each inside the region
///
/// **8 COMPLETE**, destination to source, urgent; 8 bytes: the destination
/// holds every page.
///
///     0..<8   u64  pagesHeld  <= the region's page count
///
/// **9 DONE**, source to destination, urgent; empty: the source acknowledges
/// COMPLETE and will close.
///
/// **10 ERROR**, either way; 4 + n bytes, n <= 1024: the sender is giving up.
///
///     0..<4   u32  code       a `WireErrorCode`
///     4..     n bytes         reason, UTF-8
///
/// **11 DISCARD**, destination to source, urgent; 8 bytes, laid out as
/// ZERO: the application dropped or unmapped these pages while they were
/// arriving. The destination no longer needs them; the source stops sending
/// them and counts them as done.
///
///     0..<4   u32  page       first page
///     4..<8   u32  count      >= 1
///
/// **12 RESUME**, destination to source, urgent; 8 + n bytes, n >= 1: sent
/// after JOIN(bulk) on a reconnection (below), in place of READY.
///
///     0       u8   flags      bit 0: the destination has the skip bitmap; others 0
///     1..<8   7 bytes         0
///     8..     n bytes         encoded bitmap of the pages the destination
///                             holds or no longer needs (opaque to this module)
///
/// ## Sequence
///
///     destination                          source
///     JOIN(urgent, session)  ------------>
///                            <------------  HELLO(geometry, features, session)
///     JOIN(bulk, session)    ------------>
///     READY                  ------------>
///                            <------------  BITMAP(skip), ZERO, PAGES ...
///     REQUEST(pages)         ------------>
///                            <------------  PAGES(reply) or ZERO
///     COMPLETE(pagesHeld)    ------------>
///                            <------------  DONE
///
/// ## Recovery
///
/// When a lane breaks before DONE, both sides close both lanes and pause:
/// the destination's faulting threads stay blocked, the source keeps
/// listening. The destination reconnects with the session HELLO gave it:
///
///     JOIN(urgent, session)  ------------>
///                            <------------  HELLO(the same geometry and session)
///     JOIN(bulk, session)    ------------>
///     RESUME(held bitmap)    ------------>
///     REQUEST(still missing) ------------>  (then as before; COMPLETE if held)
///
/// The source forgets what it had sent: whatever RESUME does not show held
/// was lost in flight and travels again.
///
/// A frame that breaks any rule above ends the connection: the receiver
/// reports a `WireError` (and may send ERROR with its `code`), never guesses.
///
/// ## Versions
///
/// A remote fault costs three frame heads: its REQUEST, the reply's PAGES
/// and, mostly, the step the stream takes around the page the reply sent
/// (one more PAGES). Version 1 spent 24 + 24 + 24 bytes on them. Version 2
/// dropped the count fields the body length gives: 16 + 16 + 16. Version 3
/// names pages by u32 index instead of u64 byte offset and lets PAGES
/// continue the previous frame: 12 + 12 + 8, so a migration can take half
/// as many remote faults again within 0.1% of its data. Versions do not
/// interoperate: JOIN and HELLO carry the version, and a side refuses any
/// other than its own (`unsupportedVersion`).
public enum Wire {
    /// The first field of JOIN and HELLO: "CPCY" as little-endian bytes.
    public static let magic: UInt32 = 0x5943_5043
    /// The protocol version this module speaks.
    public static let version: UInt16 = 3
    /// The BITMAP kind of the skip bitmap: pages the destination must not request.
    public static let skipBitmapKind: UInt8 = 1
    /// The longest ERROR reason, in UTF-8 bytes.
    public static let maxReasonLength = 1024
    /// Bytes in every frame header.
    public static let headerLength = 8
    /// Bytes of a page index field (PAGES, ZERO, REQUEST, DISCARD).
    public static let pageIndexLength = 4
}

/// The frame types, as the header's type byte carries them.
public enum FrameType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case join = 1
    case hello = 2
    case ready = 3
    case bitmap = 4
    case pages = 5
    case zero = 6
    case request = 7
    case complete = 8
    case done = 9
    case error = 10
    case discard = 11
    case resume = 12

    /// The frame's name as the protocol document spells it ("PAGES").
    public var description: String {
        switch self {
        case .join: return "JOIN"
        case .hello: return "HELLO"
        case .ready: return "READY"
        case .bitmap: return "BITMAP"
        case .pages: return "PAGES"
        case .zero: return "ZERO"
        case .request: return "REQUEST"
        case .complete: return "COMPLETE"
        case .done: return "DONE"
        case .error: return "ERROR"
        case .discard: return "DISCARD"
        case .resume: return "RESUME"
        }
    }

    /// The name of a type byte, known or not, for messages.
    static func name(of rawType: UInt8) -> String {
        FrameType(rawValue: rawType)?.description ?? "type-\(rawType)"
    }

    /// Whether the body's fields depend on the region's geometry, so such a
    /// frame cannot be checked (and must not arrive) before HELLO.
    var needsGeometry: Bool {
        switch self {
        case .bitmap, .pages, .zero, .request, .discard, .resume: return true
        case .join, .hello, .ready, .complete, .done, .error: return false
        }
    }

    /// The body length of a frame type whose body has one size, else nil.
    var fixedBodyLength: Int? {
        switch self {
        case .join: return 16
        case .hello: return 40
        case .ready, .done: return 0
        case .zero, .discard: return 8
        case .complete: return 8
        case .bitmap, .pages, .request, .error, .resume: return nil
        }
    }

    /// The fixed fields before a variable-length body's payload.
    var minimumBodyLength: Int {
        switch self {
        case .bitmap, .resume: return 8
        // PAGES: the page field, absent when the frame continues; checked
        // with the flags in the decoder.
        case .pages: return 0
        case .request: return 0
        case .error: return 4
        default: return fixedBodyLength!
        }
    }
}

/// One decoded frame, without PAGES data (see `FramedSocket.pageData` and
/// `FramedSocket.sendPages`).
public enum Frame: Sendable, Equatable {
    /// JOIN: the destination names the lane and session of this connection.
    case join(Join)
    /// HELLO: the source states the region, its features and the session.
    case hello(Hello)
    /// READY: the destination is running on its registered region.
    case ready
    /// BITMAP of `kind` (`Wire.skipBitmapKind`); `encoded` is opaque here.
    case bitmap(kind: UInt8, encoded: [UInt8])
    /// PAGES: `count` pages from byte `offset`; `isReply` when it answers a
    /// REQUEST. The data is `FramedSocket.pageData`.
    case pages(offset: Int, count: Int, isReply: Bool)
    /// ZERO: `count` pages from byte `offset` are free; zero-fill them.
    case zero(offset: Int, count: Int)
    /// DISCARD: the destination no longer needs `count` pages from byte
    /// `offset` (its application dropped or unmapped them).
    case discard(offset: Int, count: Int)
    /// RESUME: after a reconnection, what the destination holds (or no
    /// longer needs), as an encoded bitmap; `hasSkipBitmap` if it received
    /// the skip BITMAP before the break.
    case resume(hasSkipBitmap: Bool, held: [UInt8])
    /// REQUEST: the destination needs the pages at these byte offsets.
    case request(offsets: [Int])
    /// COMPLETE: the destination holds every page.
    case complete(pagesHeld: Int)
    /// DONE: the source acknowledges COMPLETE and will close.
    case done
    /// ERROR with a `WireErrorCode` raw value and a reason. Sent with
    /// `FramedSocket.send`; a received ERROR is thrown as `WireError.remote`.
    case error(code: UInt32, reason: String)

    /// The ERROR frame that reports any error to the peer: the code a
    /// `PeerReportable` error names, else `internal` (this side failed, the
    /// peer did nothing wrong); its description cut to
    /// `Wire.maxReasonLength` bytes at a character boundary.
    public static func error(reporting error: any Error) -> Frame {
        let code = (error as? any PeerReportable)?.wireErrorCode ?? .internal
        var reason = Substring("\(error)")
        while reason.utf8.count > Wire.maxReasonLength { reason.removeLast() }
        return .error(code: code.rawValue, reason: String(reason))
    }

    /// The frame's type.
    public var type: FrameType {
        switch self {
        case .join: return .join
        case .hello: return .hello
        case .ready: return .ready
        case .bitmap: return .bitmap
        case .pages: return .pages
        case .zero: return .zero
        case .discard: return .discard
        case .request: return .request
        case .complete: return .complete
        case .done: return .done
        case .error: return .error
        case .resume: return .resume
        }
    }
}
