#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire

/// The geometry every frame is checked against: 16 pages of 4 KiB.
let geometry = try! Geometry(pageSize: 4096, pageCount: 16)

/// One fuzz input: the first byte picks the decoder, the rest is its input.
///
/// - 0...127: the bytes arrive on a connection and are decoded frame by frame
///   until the decoder throws or the stream ends. Bit 0 clear: with the
///   geometry set, as after HELLO; set: without it. Bit 1 set: PAGES frames
///   are handed out in pieces, their sizes (signed, so 0 and negative too)
///   taken in turn from the next 4 bytes, which are not sent.
/// - 128...255: the bytes are a run-length encoded bitmap of 0...1023 pages
///   (the next two bytes give the expected count).
///
/// Any crash, hang or sanitizer report is a finding; a thrown error is not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    if selector < 128 && selector & 2 != 0 {
        guard body.count >= 4 else { return 0 }
        let sizes = body.prefix(4).map { Int(Int8(bitPattern: $0)) }
        decodeFrames(Array(body.dropFirst(4)), withGeometry: selector & 1 == 0, pieceSizes: sizes)
    } else if selector < 128 {
        decodeFrames(Array(body), withGeometry: selector & 1 == 0)
    } else if body.count >= 2 {
        let expected = (Int(body[0]) | Int(body[1]) << 8) & 1023
        if let bitmap = try? RunLengthCodec.decode(body.dropFirst(2), expectedPageCount: expected) {
            precondition(bitmap.pageCount == expected, "decoded \(bitmap.pageCount) pages, expected \(expected)")
            precondition((try? RunLengthCodec.decode(RunLengthCodec.encode(bitmap), expectedPageCount: expected)) == bitmap,
                         "a decoded bitmap does not survive its own round trip")
        }
    }
    return 0
}

/// Writes `bytes` into one end of a socket pair, closes it, and decodes from
/// the other end until an error or the end of the stream; with `pieceSizes`,
/// PAGES in pieces of those sizes in turn.
func decodeFrames(_ bytes: [UInt8], withGeometry: Bool, pieceSizes: [Int]? = nil) {
    guard let (writer, reader) = try? FramedSocket.pair() else { return }
    if withGeometry { reader.geometry = geometry }
    // Only when every size is positive does none mean a whole frame.
    let largest = pieceSizes.flatMap { $0.allSatisfy { $0 > 0 } ? $0.max() : nil }
    if let pieceSizes {
        let turn = PieceTurn()
        reader.receivePagesInPieces { pieceSizes[turn.next(pieceSizes.count)] }
    }
    // The socket buffer holds the whole input (libFuzzer's -max_len keeps it small).
    _ = bytes.withUnsafeBytes { send(writer.descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    writer.shutdown()
    while true {
        guard let frame = try? reader.receive() else { return }
        if case .pages(let offset, let count, _) = frame {
            precondition(offset >= 0 && offset + count * geometry.pageSize <= geometry.regionLength,
                         "PAGES outside the region decoded: \(offset) + \(count) pages")
            precondition(reader.pageData.count == count * geometry.pageSize, "page data of the wrong length")
            if let largest {
                precondition(count <= largest, "a piece of \(count) pages, larger than any size asked for")
            }
        }
    }
}

/// Which piece size comes next; the receiving thread alone asks.
final class PieceTurn: @unchecked Sendable {
    private var index = 0
    func next(_ count: Int) -> Int {
        defer { index = (index + 1) % count }
        return index
    }
}
