import PostcopyWire
import SeededRandom
import Testing
import Watchdog

@Suite("Random and mutated input never crashes or hangs the decoder", .watchdog)
struct FuzzTests {
    /// Feeds `bytes` then end of stream, and receives until `receive`
    /// throws. Returns the error; checks every frame it decoded on the way.
    private func feed(_ bytes: [UInt8], geometry: Geometry?) -> WireError {
        let peer = RawPeer(geometry: geometry)
        peer.writeAndClose(bytes)
        // Each frame consumes at least its 8-byte header.
        for _ in 0...(bytes.count / Wire.headerLength) {
            do {
                let frame = try peer.socket.receive()
                check(frame, pageData: peer.socket.pageData, geometry: geometry)
            } catch {
                return error
            }
        }
        Issue.record("decoded more frames than the input has headers")
        return .connectionClosed
    }

    /// What every decoded frame must satisfy, whatever the input.
    private func check(_ frame: Frame, pageData: UnsafeRawBufferPointer, geometry: Geometry?) {
        switch frame {
        case .pages(let offset, let count, _):
            guard let geometry else { Issue.record("PAGES decoded without a geometry"); return }
            #expect(count >= 1 && offset % geometry.pageSize == 0)
            #expect(offset + count * geometry.pageSize <= geometry.regionLength)
            #expect(pageData.count == count * geometry.pageSize)
        case .zero(let offset, let count), .discard(let offset, let count):
            guard let geometry else { Issue.record("ZERO or DISCARD decoded without a geometry"); return }
            #expect(count >= 1 && offset % geometry.pageSize == 0)
            #expect(offset + count * geometry.pageSize <= geometry.regionLength)
        case .request(let offsets):
            guard let geometry else { Issue.record("REQUEST decoded without a geometry"); return }
            #expect(!offsets.isEmpty)
            #expect(offsets.allSatisfy { $0 % geometry.pageSize == 0 && $0 < geometry.regionLength })
        case .bitmap(let kind, let encoded):
            #expect(kind == Wire.skipBitmapKind && !encoded.isEmpty)
        case .resume(_, let held):
            #expect(geometry != nil && !held.isEmpty)
        case .error:
            Issue.record("an ERROR frame must be thrown as .remote, not returned")
        case .join, .hello, .ready, .complete, .done:
            break
        }
    }

    /// The outcome of a fed input must be an error of the input, never of
    /// the transport: a `.system` error here is the 10 s receive timeout,
    /// i.e. the decoder waited for bytes past end of stream.
    private func expectNotTransportError(_ error: WireError, input: [UInt8]) {
        if case .system = error {
            Issue.record("receive failed with \(error) on input \(input.prefix(64))")
        }
    }

    @Test("2,000 random byte strings, half of them behind a plausible header")
    func randomBytes() {
        var random = SplitMix64(seed: 0x5EED_0001)
        for index in 0..<2000 {
            var bytes: [UInt8] = []
            if index % 2 == 1 {
                // A header that passes the header checks, so bodies get fuzzed.
                let type = UInt8.random(in: 1...12, using: &random)
                let length = UInt32.random(in: 0...200, using: &random)
                bytes = frame(type, [], length: length)
            }
            let count = Int.random(in: 0...200, using: &random)
            bytes += (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            let geometry = Bool.random(using: &random) ? smallGeometry : nil
            expectNotTransportError(feed(bytes, geometry: geometry), input: bytes)
        }
    }

    @Test("Random single-byte mutations of every kind of valid frame")
    func mutations() throws {
        let valid = try validFrames()
        var random = SplitMix64(seed: 0x5EED_0002)
        var decodedCount = 0
        for index in 0..<2000 {
            var bytes = valid[index % valid.count]
            let position = Int.random(in: 0..<bytes.count, using: &random)
            bytes[position] ^= UInt8.random(in: 1...255, using: &random)
            let error = feed(bytes, geometry: smallGeometry)
            expectNotTransportError(error, input: bytes)
            if error == .connectionClosed { decodedCount += 1 }
        }
        // Mutations of page data or sessions still decode; of lengths and
        // magic do not. Both must occur, or the test is not exploring.
        #expect(decodedCount > 100 && decodedCount < 1900)
    }

    @Test("Every valid frame decodes unmutated, and truncating it anywhere reports truncation")
    func truncations() throws {
        for bytes in try validFrames() {
            let isError = bytes[4] == FrameType.error.rawValue
            #expect(feed(bytes, geometry: smallGeometry) == (isError ? .remote(code: 1, reason: "bad frame") : .connectionClosed))
            for cut in 1..<bytes.count {
                let expected = cut < Wire.headerLength ? Wire.headerLength : bytes.count
                #expect(feed(Array(bytes[0..<cut]), geometry: smallGeometry) == .truncated(expected: expected, received: cut))
            }
        }
    }

    /// One encoding of each frame type (ERROR included), as FramedSocket writes them.
    private func validFrames() throws -> [[UInt8]] {
        let hello = Hello(geometry: smallGeometry, features: .known, session: 42)
        let controls: [Frame] = [
            .join(Join(lane: .urgent, session: 42)),
            .hello(hello),
            .ready,
            .bitmap(kind: Wire.skipBitmapKind, encoded: [1, 2, 3, 4, 5]),
            .zero(offset: 8192, count: 3),
            .discard(offset: 4096, count: 2),
            .resume(hasSkipBitmap: true, held: [9, 8, 7]),
            .request(offsets: [0, 4096, 63 * 4096]),
            .complete(pagesHeld: 64),
            .done,
            .error(code: 1, reason: "bad frame"),
        ]
        var frames = try controls.map { frame in try wireBytes(geometry: smallGeometry) { try $0.send(frame) } }
        let data = pattern(tag: 5, count: 4096)
        frames.append(try wireBytes(geometry: smallGeometry) { socket in
            try data.withUnsafeBytes { try socket.sendPages(offset: 4096, count: 1, isReply: true, data: $0) }
        })
        return frames
    }
}
