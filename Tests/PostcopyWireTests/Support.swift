#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostcopyWire
import SystemCalls
import SystemPackage
import Testing

// MARK: Threads

/// A body run on its own thread (Foundation `Thread`), joined for its result.
final class Worker<Value: Sendable>: Sendable {
    private let result = LockedValue<Result<Value, any Error>?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () throws -> Value) {
        let thread = Thread { [self] in
            let outcome = Result { try body() }
            result.withLock { $0 = outcome }
            finished.signal()
        }
        thread.start()
    }

    /// Waits for the body and returns its value or rethrows its error.
    func join() throws -> Value {
        finished.wait()
        return try result.withLock { $0! }.get()
    }
}

// MARK: Raw bytes

/// Little-endian bytes, built field by field, to hand-craft frames.
struct Bytes {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { append(value) }
    mutating func u32(_ value: UInt32) { append(value) }
    mutating func u64(_ value: UInt64) { append(value) }
    mutating func raw(_ more: [UInt8]) { bytes.append(contentsOf: more) }

    private mutating func append<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// A frame: header (with the given length, flags and skip field) and body.
func frame(_ type: UInt8, _ body: [UInt8], length: UInt32? = nil, flags: UInt8 = 0, skip: UInt16 = 0) -> [UInt8] {
    var out = Bytes()
    out.u32(length ?? UInt32(body.count))
    out.u8(type)
    out.u8(flags)
    out.u16(skip)
    out.raw(body)
    return out.bytes
}

func joinBody(magic: UInt32 = 0x5943_5043, version: UInt16 = Wire.version, lane: UInt8 = 0, reserved: UInt8 = 0,
              session: UInt64 = 7) -> [UInt8] {
    var body = Bytes()
    body.u32(magic); body.u16(version); body.u8(lane); body.u8(reserved); body.u64(session)
    return body.bytes
}

func helloBody(magic: UInt32 = 0x5943_5043, version: UInt16 = Wire.version, reserved1: UInt16 = 0, pageSize: UInt32 = 4096,
               reserved2: UInt32 = 0, regionLength: UInt64 = 64 * 4096, features: UInt64 = 3,
               session: UInt64 = 7) -> [UInt8] {
    var body = Bytes()
    body.u32(magic); body.u16(version); body.u16(reserved1); body.u32(pageSize); body.u32(reserved2)
    body.u64(regionLength); body.u64(features); body.u64(session)
    return body.bytes
}

/// A PAGES body's field: the first page's index (the page data follows).
func pagesHead(page: UInt32) -> [UInt8] {
    var body = Bytes()
    body.u32(page)
    return body.bytes
}

/// A ZERO or DISCARD body.
func rangeBody(page: UInt32, count: UInt32) -> [UInt8] {
    var body = Bytes()
    body.u32(page); body.u32(count)
    return body.bytes
}

/// A REQUEST body: the page indices, nothing else.
func requestBody(pages: [UInt32]) -> [UInt8] {
    var body = Bytes()
    for page in pages { body.u32(page) }
    return body.bytes
}

func errorBody(code: UInt32, reason: [UInt8]) -> [UInt8] {
    var body = Bytes()
    body.u32(code); body.raw(reason)
    return body.bytes
}

/// A byte pattern that differs per page and per tag, to check data byte for byte.
func pattern(tag: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 12 &+ tag &* 131) }
}

// MARK: Sockets

/// A `FramedSocket` under test, with the raw other end of its socketpair
/// for the test to write hand-made bytes into.
///
/// The framed end gets a 10 s receive timeout, so a decoder that waits for
/// bytes that will never come fails with EAGAIN instead of hanging the run.
final class RawPeer {
    let socket: FramedSocket
    private var peer: Int32

    init(geometry: Geometry? = nil, limits: FrameLimits = FrameLimits()) {
        var fds: [Int32] = [-1, -1]
        let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        precondition(result == 0, "socketpair failed: \(errno)")
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        socket = FramedSocket(adopting: FileDescriptor(rawValue: fds[0]), limits: limits)
        socket.geometry = geometry
        peer = fds[1]
    }

    deinit { closePeer() }

    /// Writes all of `bytes` to the framed end.
    func write(_ bytes: [UInt8]) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                send(peer, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
            }
            precondition(result > 0, "send to the framed end failed: \(errno)")
            written += result
        }
    }

    /// Writes `bytes`, then closes the raw end: the framed end sees end of
    /// stream after them.
    func writeAndClose(_ bytes: [UInt8]) {
        write(bytes)
        closePeer()
    }

    func closePeer() {
        if peer >= 0 { close(peer) }
        peer = -1
    }

    /// Everything that arrives on the raw end until the framed end closes.
    func readAll() -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(peer, &chunk, chunk.count, 0)
            precondition(count >= 0, "recv failed: \(errno)")
            if count == 0 { return received }
            received.append(contentsOf: chunk[0..<count])
        }
    }
}

/// The bytes `FramedSocket` puts on the wire for what `send` does.
func wireBytes(geometry: Geometry?, _ send: (FramedSocket) throws -> Void) throws -> [UInt8] {
    let capture = RawPeer(geometry: geometry)
    try send(capture.socket)
    capture.socket.shutdown()
    return capture.readAll()
}

/// `getsockopt` of an `Int32` option, for checking what the module set.
func socketOption(_ socket: FramedSocket, level: Int32, _ option: Int32) -> Int32 {
    var value: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    let result = getsockopt(socket.descriptor.rawValue, level, option, &value, &length)
    precondition(result == 0, "getsockopt failed: \(errno)")
    return value
}

/// A fresh directory under the temporary directory, for Unix socket paths.
func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("postcopy-wire-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small region: 64 pages of 4 KiB.
let smallGeometry = try! Geometry(pageSize: 4096, pageCount: 64)
