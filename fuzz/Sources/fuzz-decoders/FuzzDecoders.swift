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
///   (with the geometry set when the high bit of the byte is clear, as after
///   HELLO; without it otherwise) until the decoder throws or the stream ends.
/// - 128...255: the bytes are a run-length encoded bitmap of 0...1023 pages
///   (the next two bytes give the expected count).
///
/// Any crash, hang or sanitizer report is a finding; a thrown error is not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    if selector < 128 {
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
/// the other end until an error or the end of the stream.
func decodeFrames(_ bytes: [UInt8], withGeometry: Bool) {
    guard let (writer, reader) = try? FramedSocket.pair() else { return }
    if withGeometry { reader.geometry = geometry }
    // The socket buffer holds the whole input (libFuzzer's -max_len keeps it small).
    _ = bytes.withUnsafeBytes { send(writer.descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    writer.shutdown()
    while true {
        guard let frame = try? reader.receive() else { return }
        if case .pages(let offset, let count, _) = frame {
            precondition(offset >= 0 && offset + count * geometry.pageSize <= geometry.regionLength,
                         "PAGES outside the region decoded: \(offset) + \(count) pages")
            precondition(reader.pageData.count == count * geometry.pageSize, "page data of the wrong length")
        }
    }
}
