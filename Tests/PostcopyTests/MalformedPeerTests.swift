#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyDest
import PostcopySource
import PostcopyWire
import Testing
import UFFDCore
import Watchdog

/// Something a hostile or broken source sends, and the error the real
/// destination must end with.
struct HostileSource: Sendable, CustomTestStringConvertible {
    enum When: Sendable { case insteadOfHello, afterReady }
    var name: String
    var when: When
    /// The raw bytes, given the region's geometry (4 pages).
    var bytes: @Sendable (Geometry) -> [UInt8]
    /// Whether the error is the one this case must produce.
    var matches: @Sendable (any Error) -> Bool
    var testDescription: String { name }
}

private func hello(magic: UInt32 = Wire.magic, version: UInt16 = Wire.version, pageSize: Int, length: Int) -> [UInt8] {
    var body = Peer.le(magic) + Peer.le(version) + Peer.le(UInt16(0))
    body += Peer.le(UInt32(pageSize)) + Peer.le(UInt32(0)) + Peer.le(UInt64(length)) + Peer.le(UInt64(0)) + Peer.le(UInt64(7))
    return Peer.header(bodyLength: body.count, type: 2) + body
}

private let hostileSources: [HostileSource] = [
    HostileSource(name: "HELLO of protocol version 4 (a newer source)", when: .insteadOfHello,
                  bytes: { hello(version: 4, pageSize: $0.pageSize, length: $0.regionLength) },
                  matches: { ($0 as? WireError) == .unsupportedVersion(4) }),
    HostileSource(name: "HELLO of protocol version 2 (an older source)", when: .insteadOfHello,
                  bytes: { hello(version: 2, pageSize: $0.pageSize, length: $0.regionLength) },
                  matches: { ($0 as? WireError) == .unsupportedVersion(2) }),
    HostileSource(name: "HELLO with another page size (8 KiB)", when: .insteadOfHello,
                  bytes: { _ in hello(pageSize: 8192, length: 8192 * 4) },
                  matches: { ($0 as? DestinationError) == .pageSizeMismatch(source: 8192, local: SystemPage.size) }),
    HostileSource(name: "HELLO with a region that is not whole pages", when: .insteadOfHello,
                  bytes: { hello(pageSize: $0.pageSize, length: $0.regionLength + 100) },
                  matches: { if case .badRegionLength? = $0 as? WireError { true } else { false } }),
    HostileSource(name: "a skip bitmap of 5 pages for a 4-page region", when: .afterReady,
                  bytes: { _ in
                      let encoded = RunLengthCodec.encode(PageBitmap(pageCount: 5))
                      let body = [Wire.skipBitmapKind] + [UInt8](repeating: 0, count: 7) + encoded
                      return Peer.header(bodyLength: body.count, type: 4) + body
                  },
                  matches: { ($0 as? RunLengthCodec.DecodeError) == .pageCountMismatch(declared: 5, expected: 4) }),
    HostileSource(name: "a PAGES frame cut short by the connection closing", when: .afterReady,
                  bytes: { geometry in
                      let body = Peer.le(UInt32(0)) + [UInt8](repeating: 1, count: 100)
                      return Peer.header(bodyLength: 4 + geometry.pageSize, type: 5) + body
                  },
                  matches: { if case .truncated? = $0 as? WireError { true } else { false } }),
    HostileSource(name: "a frame announcing a 1 GiB body", when: .afterReady,
                  bytes: { _ in Peer.header(bodyLength: 1 << 30, type: 5) },
                  matches: { if case .oversizedFrame(1 << 30, _)? = $0 as? WireError { true } else { false } }),
    HostileSource(name: "an unknown frame type", when: .afterReady,
                  bytes: { _ in Peer.header(bodyLength: 0, type: 99) },
                  matches: { ($0 as? WireError) == .unknownFrameType(99) }),
]

@Suite("A hostile source: the destination ends with the named error, writes nothing outside its region, does not crash", .watchdog)
struct MalformedPeerTests {
    @Test(arguments: hostileSources)
    func hostileSource(_ hostile: HostileSource) throws {
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: 4)
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let peer = PeerThread {
            switch hostile.when {
            case .insteadOfHello:
                let urgent = try listener.accept()
                _ = try urgent.receive()
                Peer.writeRaw(urgent, hostile.bytes(geometry))
                _ = Peer.errorReason(urgent)
            case .afterReady:
                let (urgent, bulk) = try Peer.acceptDestination(listener, geometry: geometry)
                Peer.writeRaw(urgent, hostile.bytes(geometry))
                // Half-close: ends a frame cut short (the others are whole),
                // while the destination's ERROR can still be read.
                _ = Glibc.shutdown(urgent.descriptor.rawValue, Int32(SHUT_WR))
                _ = Peer.errorReason(urgent)
                withExtendedLifetime(bulk) {}  // the bulk lane stays open until the destination has failed
            }
        }
        var failure: (any Error)?
        do {
            // Without recovery: a frame cut short is otherwise a lost
            // connection to recover from (RecoveryTests), not an error to name.
            var configuration = PostcopyDestination.Configuration()
            configuration.recoveryDeadline = nil
            let destination = try PostcopyDestination.connect(to: listener.endpoint, configuration: configuration)
            _ = try destination.waitForCompletion()
        } catch {
            failure = error
        }
        _ = peer.finish()
        let error = try #require(failure, "the destination accepted \(hostile.name)")
        // Failures after connect arrive wrapped with what was received.
        let cause = (error as? DestinationFailure)?.cause ?? error
        #expect(hostile.matches(cause), "\(hostile.name): \(error)")
    }
}
