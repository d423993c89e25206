/// Which of a migration's two connections a socket is.
public enum Lane: UInt8, Sendable, CustomStringConvertible {
    /// Handshake, requests and their answers: small frames, latency first
    /// (`TCP_NODELAY`).
    case urgent = 0
    /// The background stream of pages: throughput first (large buffers).
    case bulk = 1

    public var description: String {
        switch self {
        case .urgent: return "urgent"
        case .bulk: return "bulk"
        }
    }
}

/// Optional behaviours the source offers in HELLO.
public struct Features: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The source sends a skip BITMAP of pages not to request.
    public static let skipBitmap = Features(rawValue: 1 << 0)
    /// The source answers a REQUEST for a free page with ZERO, not PAGES.
    public static let zeroReplies = Features(rawValue: 1 << 1)

    /// Every feature this protocol version defines; other bits are rejected.
    public static let known: Features = [.skipBitmap, .zeroReplies]
}

/// The body of JOIN: which lane this connection is, in which session.
public struct Join: Sendable, Equatable {
    /// The lane this connection serves.
    public var lane: Lane
    /// The migration session, the same on both lanes; chosen by the destination.
    public var session: UInt64

    public init(lane: Lane, session: UInt64) {
        self.lane = lane
        self.session = session
    }
}

/// The body of HELLO: the region's geometry, the offered features, the session.
///
/// Holds a `Geometry`, so a `Hello` always describes a valid region.
public struct Hello: Sendable, Equatable {
    /// The protocol version; always `Wire.version` (HELLO of another is rejected).
    public let version: UInt16
    /// The region's page size and page count.
    public var geometry: Geometry
    /// The features the source offers.
    public var features: Features
    /// Echoes the session of the destination's JOIN.
    public var session: UInt64

    /// Bytes per page.
    public var pageSize: Int { geometry.pageSize }
    /// Bytes in the region.
    public var regionLength: Int { geometry.regionLength }

    public init(geometry: Geometry, features: Features, session: UInt64) {
        self.version = Wire.version
        self.geometry = geometry
        self.features = features
        self.session = session
    }
}
