import PostcopyWire
import Testing
import Watchdog

/// One hand-made input and the exact error `receive` must throw for it.
struct Malformed: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var geometry: Geometry? = smallGeometry
    var expected: WireError

    var testDescription: String { name }
}

/// 64 pages of 4 KiB: the region is 262144 bytes.
private let region: UInt64 = 64 * 4096
private let oneFullPage = [UInt8](repeating: 0xAB, count: 4096)

private let cases: [Malformed] = [
    // Header
    Malformed(name: "clean EOF at a frame boundary", bytes: [], expected: .connectionClosed),
    Malformed(name: "truncated header", bytes: [16, 0, 0, 0, 1], expected: .truncated(expected: 8, received: 5)),
    Malformed(name: "unknown type 13", bytes: frame(13, []), expected: .unknownFrameType(13)),
    Malformed(name: "unknown type 0", bytes: frame(0, []), expected: .unknownFrameType(0)),
    Malformed(name: "nonzero header flags", bytes: frame(3, [], flags: 1), expected: .nonzeroReserved(field: "header flags byte")),
    Malformed(name: "nonzero header skip", bytes: frame(3, [], skip: 0x100),
              expected: .nonzeroReserved(field: "header skip field of a frame that does not continue")),
    Malformed(name: "oversized length", bytes: frame(4, [], length: (16 << 20) + 65),
              expected: .oversizedFrame(length: (16 << 20) + 65, limit: (16 << 20) + 64)),
    Malformed(name: "length 0xFFFFFFFF", bytes: frame(5, [], length: .max),
              expected: .oversizedFrame(length: Int(UInt32.max), limit: (16 << 20) + 64)),

    // JOIN and HELLO
    Malformed(name: "JOIN bad magic", bytes: frame(1, joinBody(magic: 0xDEAD_BEEF)), expected: .badMagic(0xDEAD_BEEF)),
    Malformed(name: "JOIN of version 1", bytes: frame(1, joinBody(version: 1)), expected: .unsupportedVersion(1)),
    Malformed(name: "JOIN of version 2", bytes: frame(1, joinBody(version: 2)), expected: .unsupportedVersion(2)),
    Malformed(name: "JOIN unknown lane", bytes: frame(1, joinBody(lane: 2)), expected: .unknownLane(2)),
    Malformed(name: "JOIN nonzero reserved", bytes: frame(1, joinBody(reserved: 1)),
              expected: .nonzeroReserved(field: "JOIN reserved byte")),
    Malformed(name: "JOIN body too long", bytes: frame(1, joinBody() + [0]),
              expected: .bodyLengthMismatch(type: 1, expected: 16, actual: 17)),
    Malformed(name: "truncated JOIN body", bytes: Array(frame(1, joinBody())[0..<18]),
              expected: .truncated(expected: 24, received: 18)),
    Malformed(name: "HELLO bad magic", bytes: frame(2, helloBody(magic: 0x4350_4359)), geometry: nil,
              expected: .badMagic(0x4350_4359)),
    Malformed(name: "HELLO wrong version", bytes: frame(2, helloBody(version: 0)), geometry: nil,
              expected: .unsupportedVersion(0)),
    Malformed(name: "HELLO of 32 bytes", bytes: frame(2, Array(helloBody()[0..<32])), geometry: nil,
              expected: .bodyLengthMismatch(type: 2, expected: 40, actual: 32)),
    Malformed(name: "HELLO nonzero reserved u16", bytes: frame(2, helloBody(reserved1: 1)), geometry: nil,
              expected: .nonzeroReserved(field: "HELLO reserved field after version")),
    Malformed(name: "HELLO nonzero reserved u32", bytes: frame(2, helloBody(reserved2: 1)), geometry: nil,
              expected: .nonzeroReserved(field: "HELLO reserved field after pageSize")),
    Malformed(name: "HELLO page size not a power of two", bytes: frame(2, helloBody(pageSize: 5000)), geometry: nil,
              expected: .badPageSize(5000)),
    Malformed(name: "HELLO page size 4 MiB", bytes: frame(2, helloBody(pageSize: 4 << 20, regionLength: 4 << 20)),
              geometry: nil, expected: .badPageSize(4 << 20)),
    Malformed(name: "HELLO page size 2 KiB", bytes: frame(2, helloBody(pageSize: 2048)), geometry: nil,
              expected: .badPageSize(2048)),
    Malformed(name: "HELLO region not a multiple of the page size", bytes: frame(2, helloBody(regionLength: 4097)),
              geometry: nil, expected: .badRegionLength(4097, pageSize: 4096)),
    Malformed(name: "HELLO empty region", bytes: frame(2, helloBody(regionLength: 0)), geometry: nil,
              expected: .badRegionLength(0, pageSize: 4096)),
    Malformed(name: "HELLO region of 2^63 bytes", bytes: frame(2, helloBody(regionLength: 1 << 63)), geometry: nil,
              expected: .badRegionLength(1 << 63, pageSize: 4096)),
    Malformed(name: "HELLO region of 2^32 pages", bytes: frame(2, helloBody(regionLength: 1 << 44)), geometry: nil,
              expected: .badRegionLength(1 << 44, pageSize: 4096)),
    Malformed(name: "HELLO unknown feature bits", bytes: frame(2, helloBody(features: 0b10_0101)), geometry: nil,
              expected: .unknownFeatures(0b10_0100)),

    // READY, COMPLETE
    Malformed(name: "READY with a body", bytes: frame(3, [0, 0, 0, 0]), expected: .bodyLengthMismatch(type: 3, expected: 0, actual: 4)),
    Malformed(name: "COMPLETE claiming more pages than the region", bytes: frame(8, [65, 0, 0, 0, 0, 0, 0, 0]),
              expected: .pagesHeldOutOfRange(pagesHeld: 65, pageCount: 64)),
    Malformed(name: "COMPLETE before HELLO claiming more pages than any region", bytes: frame(8, [0, 0, 0, 0, 1, 0, 0, 0]),
              geometry: nil, expected: .pagesHeldOutOfRange(pagesHeld: 1 << 32, pageCount: Int(UInt32.max))),

    // BITMAP
    Malformed(name: "BITMAP unknown kind", bytes: frame(4, [2, 0, 0, 0, 0, 0, 0, 0, 0xFF]), expected: .bitmapKindUnknown(2)),
    Malformed(name: "BITMAP empty", bytes: frame(4, [1, 0, 0, 0, 0, 0, 0, 0]), expected: .emptyBitmap),
    Malformed(name: "BITMAP nonzero reserved", bytes: frame(4, [1, 0, 0, 0, 0, 0, 0, 1, 0xFF]),
              expected: .nonzeroReserved(field: "BITMAP reserved bytes")),
    Malformed(name: "BITMAP shorter than its fixed fields", bytes: frame(4, [1, 0, 0]),
              expected: .bodyTooShort(type: 4, minimum: 8, actual: 3)),

    // RESUME
    Malformed(name: "RESUME unknown flag", bytes: frame(12, [2, 0, 0, 0, 0, 0, 0, 0, 0xFF]),
              expected: .nonzeroReserved(field: "RESUME flags")),
    Malformed(name: "RESUME empty bitmap", bytes: frame(12, [1, 0, 0, 0, 0, 0, 0, 0]), expected: .emptyBitmap),
    Malformed(name: "RESUME nonzero reserved", bytes: frame(12, [0, 0, 0, 0, 1, 0, 0, 0, 0xFF]),
              expected: .nonzeroReserved(field: "RESUME reserved bytes")),
    Malformed(name: "RESUME shorter than its fixed fields", bytes: frame(12, [1]),
              expected: .bodyTooShort(type: 12, minimum: 8, actual: 1)),

    // PAGES
    Malformed(name: "PAGES page at the region's end", bytes: frame(5, pagesHead(page: 64) + oneFullPage),
              expected: .offsetOutOfRange(offset: region, count: 1, regionLength: Int(region))),
    Malformed(name: "PAGES run crossing the region's end",
              bytes: frame(5, pagesHead(page: 63) + oneFullPage + oneFullPage),
              expected: .offsetOutOfRange(offset: region - 4096, count: 2, regionLength: Int(region))),
    Malformed(name: "PAGES page 2^32 - 1", bytes: frame(5, pagesHead(page: .max) + oneFullPage),
              expected: .offsetOutOfRange(offset: UInt64(UInt32.max) * 4096, count: 1, regionLength: Int(region))),
    Malformed(name: "PAGES data not whole pages", bytes: frame(5, pagesHead(page: 0) + oneFullPage + [1, 2, 3]),
              expected: .bodyNotWholeUnits(type: 5, fixed: 4, unit: 4096, actual: 4 + 4099)),
    Malformed(name: "PAGES without data (count 0)", bytes: frame(5, pagesHead(page: 0)), expected: .zeroCount),
    Malformed(name: "PAGES header flags beyond bits 0 and 1", bytes: frame(5, pagesHead(page: 0) + oneFullPage, flags: 4),
              expected: .nonzeroReserved(field: "PAGES header flags other than bits 0 and 1")),
    Malformed(name: "PAGES shorter than its page field", bytes: frame(5, [0, 0]),
              expected: .bodyTooShort(type: 5, minimum: 4, actual: 2)),
    Malformed(name: "PAGES skip without continuing", bytes: frame(5, pagesHead(page: 0) + oneFullPage, skip: 1),
              expected: .nonzeroReserved(field: "header skip field of a frame that does not continue")),
    Malformed(name: "PAGES continuing with none before", bytes: frame(5, oneFullPage, flags: 2),
              expected: .continuationWithoutPrevious),
    Malformed(name: "PAGES continuing past the region's end",
              bytes: frame(5, pagesHead(page: 60) + oneFullPage) + frame(5, oneFullPage, flags: 2, skip: 3),
              expected: .offsetOutOfRange(offset: region, count: 1, regionLength: Int(region))),
    Malformed(name: "PAGES continuing with the largest skip",
              bytes: frame(5, pagesHead(page: 0) + oneFullPage) + frame(5, oneFullPage, flags: 3, skip: .max),
              expected: .offsetOutOfRange(offset: 65536 * 4096, count: 1, regionLength: Int(region))),
    Malformed(name: "PAGES continuing without data", bytes: frame(5, pagesHead(page: 0) + oneFullPage) + frame(5, [], flags: 2),
              expected: .zeroCount),
    Malformed(name: "PAGES continuing, data not whole pages",
              bytes: frame(5, pagesHead(page: 0) + oneFullPage) + frame(5, oneFullPage + [1], flags: 2),
              expected: .bodyNotWholeUnits(type: 5, fixed: 0, unit: 4096, actual: 4097)),
    Malformed(name: "truncated PAGES data",
              bytes: Array(frame(5, pagesHead(page: 0) + oneFullPage)[0..<(12 + 100)]),
              expected: .truncated(expected: 12 + 4096, received: 12 + 100)),
    Malformed(name: "truncated PAGES data beyond the direct-read threshold",
              bytes: Array(frame(5, pagesHead(page: 0) + pattern(tag: 1, count: 32 * 4096))[0..<(12 + 1000)]),
              expected: .truncated(expected: 12 + 32 * 4096, received: 12 + 1000)),

    // ZERO
    Malformed(name: "ZERO count 0", bytes: frame(6, rangeBody(page: 0, count: 0)), expected: .zeroCount),
    Malformed(name: "ZERO out of range", bytes: frame(6, rangeBody(page: 1, count: 64)),
              expected: .offsetOutOfRange(offset: 4096, count: 64, regionLength: Int(region))),
    Malformed(name: "ZERO of 2^32 - 1 pages", bytes: frame(6, rangeBody(page: 0, count: .max)),
              expected: .offsetOutOfRange(offset: 0, count: Int(UInt32.max), regionLength: Int(region))),
    Malformed(name: "ZERO of the version 2 layout", bytes: frame(6, rangeBody(page: 0, count: 0) + rangeBody(page: 1, count: 0)),
              expected: .bodyLengthMismatch(type: 6, expected: 8, actual: 16)),
    Malformed(name: "ZERO with header flags", bytes: frame(6, rangeBody(page: 0, count: 1), flags: 1),
              expected: .nonzeroReserved(field: "header flags byte")),

    // REQUEST
    Malformed(name: "REQUEST with too many offsets",
              bytes: frame(7, [], length: 4 * 65537),
              expected: .tooManyOffsets(count: 65537, limit: 65536)),
    Malformed(name: "REQUEST of no pages", bytes: frame(7, requestBody(pages: [])), expected: .zeroCount),
    Malformed(name: "REQUEST page out of range", bytes: frame(7, requestBody(pages: [0, 64])),
              expected: .offsetOutOfRange(offset: region, count: 1, regionLength: Int(region))),
    Malformed(name: "REQUEST body not whole page indices", bytes: frame(7, requestBody(pages: [0]) + [0, 0]),
              expected: .bodyNotWholeUnits(type: 7, fixed: 0, unit: 4, actual: 6)),
    Malformed(name: "REQUEST with the reply flag", bytes: frame(7, requestBody(pages: [0]), flags: 1),
              expected: .nonzeroReserved(field: "header flags byte")),

    // Before the handshake
    Malformed(name: "PAGES before HELLO", bytes: frame(5, pagesHead(page: 0) + oneFullPage), geometry: nil,
              expected: .frameBeforeHandshake(type: 5)),
    Malformed(name: "REQUEST before HELLO", bytes: frame(7, requestBody(pages: [0])), geometry: nil,
              expected: .frameBeforeHandshake(type: 7)),
    Malformed(name: "ZERO before HELLO", bytes: frame(6, rangeBody(page: 0, count: 1)), geometry: nil,
              expected: .frameBeforeHandshake(type: 6)),
    Malformed(name: "BITMAP before HELLO", bytes: frame(4, [1, 0, 0, 0, 0, 0, 0, 0, 0xFF]), geometry: nil,
              expected: .frameBeforeHandshake(type: 4)),

    // ERROR
    Malformed(name: "ERROR frame", bytes: frame(10, errorBody(code: 3, reason: Array("page size differs".utf8))),
              expected: .remote(code: 3, reason: "page size differs")),
    Malformed(name: "ERROR with an empty reason", bytes: frame(10, errorBody(code: 99, reason: [])), geometry: nil,
              expected: .remote(code: 99, reason: "")),
    Malformed(name: "ERROR reason not UTF-8", bytes: frame(10, errorBody(code: 1, reason: [0x61, 0xC3, 0x28])),
              expected: .invalidUTF8),
    Malformed(name: "ERROR reason too long", bytes: frame(10, errorBody(code: 1, reason: [UInt8](repeating: 0x61, count: 1025))),
              expected: .reasonTooLong(1025)),
    Malformed(name: "ERROR without a code", bytes: frame(10, [1, 0]), expected: .bodyTooShort(type: 10, minimum: 4, actual: 2)),
]

@Suite("Malformed input: receive throws the exact error", .watchdog)
struct MalformedFrameTests {
    @Test(arguments: cases)
    func rejects(_ input: Malformed) {
        let peer = RawPeer(geometry: input.geometry)
        peer.writeAndClose(input.bytes)
        // Some inputs need a valid frame first (a PAGES frame to continue).
        var thrown: WireError?
        for _ in 0..<3 {
            do { _ = try peer.socket.receive() } catch { thrown = error; break }
        }
        #expect(thrown == input.expected)
        // The stream has no next frame boundary: the error sticks.
        #expect(throws: input.expected) { try peer.socket.receive() }
    }

    @Test("A frame rejected before its body is read is rejected while the peer is still connected")
    func rejectsEarly() {
        // Announces 16 MiB of REQUEST body and sends none of it: the
        // length alone decides (too many offsets), with the connection
        // still open.
        let peer = RawPeer(geometry: smallGeometry)
        peer.write(frame(7, [], length: 16 << 20))
        #expect(throws: WireError.tooManyOffsets(count: 4 << 20, limit: 65536)) { try peer.socket.receive() }
    }

    @Test("A valid frame then garbage: the frame decodes, then the garbage is reported")
    func validThenGarbage() throws {
        let peer = RawPeer(geometry: nil)
        peer.writeAndClose(frame(3, []) + frame(3, [], flags: 0x80))
        #expect(try peer.socket.receive() == .ready)
        #expect(throws: WireError.nonzeroReserved(field: "header flags byte")) { try peer.socket.receive() }
    }

    @Test("A smaller REQUEST limit is enforced")
    func customLimits() {
        let peer = RawPeer(geometry: smallGeometry, limits: FrameLimits(maxBodyLength: 1024, maxRequestCount: 4))
        peer.writeAndClose(frame(7, requestBody(pages: [0, 0, 0, 0, 0])))
        #expect(throws: WireError.tooManyOffsets(count: 5, limit: 4)) { try peer.socket.receive() }

        let small = RawPeer(geometry: smallGeometry, limits: FrameLimits(maxBodyLength: 1024))
        small.writeAndClose(frame(5, pagesHead(page: 0) + oneFullPage))
        #expect(throws: WireError.oversizedFrame(length: 4100, limit: 1024)) { try small.socket.receive() }
    }
}
