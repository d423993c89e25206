import PostcopyWire
import SystemPackage
import Testing
import Watchdog

@Suite("Geometry, send-side checks and error reporting", .watchdog)
struct ValidationTests {
    @Test(arguments: [4096, 8192, 65536, 2 << 20])
    func validPageSizes(pageSize: Int) throws {
        let geometry = try Geometry(pageSize: pageSize, pageCount: 3)
        #expect(geometry.regionLength == 3 * pageSize)
        #expect(try Geometry(pageSize: pageSize, regionLength: UInt64(3 * pageSize)) == geometry)
    }

    @Test(arguments: [0, -4096, 2048, 4095, 6144, 4 << 20, 3 << 20])
    func invalidPageSizes(pageSize: Int) {
        #expect(throws: WireError.badPageSize(pageSize)) { try Geometry(pageSize: pageSize, pageCount: 1) }
    }

    @Test func invalidRegions() throws {
        #expect(throws: WireError.badRegionLength(0, pageSize: 4096)) { try Geometry(pageSize: 4096, pageCount: 0) }
        #expect(throws: WireError.badRegionLength(6000, pageSize: 4096)) { try Geometry(pageSize: 4096, regionLength: 6000) }
        #expect(throws: WireError.badRegionLength(1 << 48, pageSize: 4096)) { try Geometry(pageSize: 4096, pageCount: 1 << 36) }
        #expect(throws: WireError.badRegionLength(.max, pageSize: 4096)) { try Geometry(pageSize: 4096, pageCount: .max) }
        // Pages are named by u32 index: 2^32 - 1 pages at most.
        #expect(throws: WireError.badRegionLength(1 << 44, pageSize: 4096)) { try Geometry(pageSize: 4096, pageCount: 1 << 32) }
        #expect(throws: WireError.badRegionLength(1 << 44, pageSize: 4096)) { try Geometry(pageSize: 4096, regionLength: 1 << 44) }
        #expect(try Geometry(pageSize: 4096, pageCount: Int(UInt32.max)).regionLength == (1 << 44) - 4096)
    }

    @Test func rangeChecks() throws {
        let geometry = smallGeometry
        #expect(try geometry.checkRange(offset: 63 * 4096, count: 1) == 63 * 4096)
        #expect(try geometry.checkRange(offset: 0, count: 64) == 0)
        #expect(throws: WireError.offsetOutOfRange(offset: 0, count: 65, regionLength: 64 * 4096)) {
            try geometry.checkRange(offset: 0, count: 65)
        }
        #expect(throws: WireError.zeroCount) { try geometry.checkRange(offset: 0, count: 0) }
        #expect(throws: WireError.offsetUnaligned(offset: 1, pageSize: 4096)) { try geometry.checkPage(offset: 1) }
    }

    @Test("A HELLO for another region fails the destination's geometry check")
    func helloGeometryMismatch() throws {
        let peer = RawPeer(geometry: nil)
        peer.writeAndClose(frame(2, helloBody(pageSize: 8192, regionLength: 64 * 8192)))
        guard case .hello(let hello) = try peer.socket.receive() else { Issue.record("no HELLO"); return }
        #expect(hello.pageSize == 8192 && hello.regionLength == 64 * 8192 && hello.version == 3)
        #expect(hello.features == [.skipBitmap, .zeroReplies])
        let error = #expect(throws: WireError.self) { try smallGeometry.check(matches: hello.geometry, peer: "the source") }
        guard case .geometryMismatch(let detail) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(detail.contains("8192") && detail.contains("4096") && detail.contains("the source"))
        #expect(error?.code == .geometryMismatch)
    }

    @Test("The sender refuses what the receiver would refuse, and the connection stays usable")
    func sendSideChecks() throws {
        let (source, destination) = try FramedSocket.pair()
        #expect(throws: WireError.frameBeforeHandshake(type: 6)) { try source.send(.zero(offset: 0, count: 1)) }
        #expect(throws: WireError.frameBeforeHandshake(type: 5)) {
            try [UInt8](repeating: 0, count: 4096).withUnsafeBytes { try source.sendPages(offset: 0, count: 1, isReply: false, data: $0) }
        }
        source.geometry = smallGeometry
        #expect(throws: WireError.zeroCount) { try source.send(.request(offsets: [])) }
        #expect(throws: WireError.tooManyOffsets(count: 65537, limit: 65536)) {
            try source.send(.request(offsets: [Int](repeating: 0, count: 65537)))
        }
        #expect(throws: WireError.offsetUnaligned(offset: 10, pageSize: 4096)) { try source.send(.request(offsets: [10])) }
        #expect(throws: WireError.offsetOutOfRange(offset: UInt64(bitPattern: -4096), count: 1, regionLength: 64 * 4096)) {
            try source.send(.zero(offset: -4096, count: 1))
        }
        #expect(throws: WireError.emptyBitmap) { try source.send(.bitmap(kind: Wire.skipBitmapKind, encoded: [])) }
        #expect(throws: WireError.bitmapKindUnknown(7)) { try source.send(.bitmap(kind: 7, encoded: [1])) }
        #expect(throws: WireError.reasonTooLong(1025)) { try source.send(.error(code: 1, reason: String(repeating: "é", count: 512) + "x")) }
        #expect(throws: WireError.pagesHeldOutOfRange(pagesHeld: 65, pageCount: 64)) { try source.send(.complete(pagesHeld: 65)) }
        #expect(throws: WireError.unknownFeatures(1 << 9)) {
            try source.send(.hello(Hello(geometry: smallGeometry, features: Features(rawValue: 1 << 9 | 1), session: 0)))
        }
        #expect(throws: WireError.offsetOutOfRange(offset: 64 * 4096, count: 1, regionLength: 64 * 4096)) {
            try [UInt8](repeating: 0, count: 4096).withUnsafeBytes { try source.sendPages(offset: 64 * 4096, count: 1, isReply: false, data: $0) }
        }

        try source.send(.ready)
        #expect(try destination.receive() == .ready)
    }

    @Test("Frame.error(reporting:) carries the code and a reason cut to 1024 bytes at a character boundary")
    func errorFrames() throws {
        let long = WireError.geometryMismatch(String(repeating: "日本", count: 400))
        guard case .error(let code, let reason) = Frame.error(reporting: long) else { Issue.record("not ERROR"); return }
        #expect(code == WireErrorCode.geometryMismatch.rawValue)
        #expect(reason.utf8.count <= 1024 && reason.utf8.count > 1020)
        #expect(long.description.hasPrefix(reason))

        #expect(WireError.unsupportedVersion(2).code == .versionMismatch)
        #expect(WireError.zeroCount.code == .protocolViolation)
        #expect(WireError.system(operation: "recv", errno: .connectionReset).code == .internal)

        // It is sendable as it is.
        let (source, destination) = try FramedSocket.pair()
        try source.send(Frame.error(reporting: long))
        #expect(throws: WireError.remote(code: 3, reason: reason)) { try destination.receive() }
    }

    @Test("Descriptions name the numbers that were wrong")
    func descriptions() {
        let samples: [(WireError, [String])] = [
            (.offsetOutOfRange(offset: 8192, count: 3, regionLength: 12288), ["8192", "3", "12288"]),
            (.bodyLengthMismatch(type: 5, expected: 4104, actual: 17), ["PAGES", "4104", "17"]),
            (.bodyNotWholeUnits(type: 5, fixed: 8, unit: 4096, actual: 4107), ["PAGES", "8 bytes", "4096-byte", "4107"]),
            (.bodyNotWholeUnits(type: 7, fixed: 0, unit: 8, actual: 12), ["REQUEST", "8-byte", "12"]),
            (.unsupportedVersion(1), ["version 1", "version 3"]),
            (.oversizedFrame(length: 99_999_999, limit: 16_777_280), ["99999999", "16777280"]),
            (.truncated(expected: 24, received: 18), ["24", "18"]),
            (.badMagic(0xDEAD_BEEF), ["0xDEADBEEF", "0x59435043"]),
            (.tooManyOffsets(count: 70000, limit: 65536), ["70000", "65536"]),
            (.frameBeforeHandshake(type: 7), ["REQUEST", "HELLO"]),
            (.nonzeroReserved(field: "header flags byte"), ["header flags byte"]),
            (.remote(code: 3, reason: "region differs"), ["3", "geometry mismatch", "region differs"]),
            (.system(operation: "connect(127.0.0.1:9)", errno: .connectionRefused), ["127.0.0.1:9", "\(Errno.connectionRefused.rawValue)"]),
        ]
        for (error, fragments) in samples {
            for fragment in fragments {
                #expect(error.description.contains(fragment), "\(error.description) lacks \(fragment)")
            }
        }
    }
}
