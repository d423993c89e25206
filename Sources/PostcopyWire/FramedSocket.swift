#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemCalls
import SystemPackage

/// One connection of a migration: frames in, frames out, every field checked.
///
/// Sending is thread-safe: an internal mutex holds each frame's bytes
/// together on the stream, so any number of threads may send. Receiving is
/// for one thread at a time (checked): `receive` reuses buffers, and
/// `pageData` shows the last frame's data.
///
/// The first error a direction meets ends that direction: a stream cut or
/// corrupted mid-frame has no next frame boundary to resume from, so later
/// calls throw the same error again.
///
/// Owns its descriptor and closes it on deinit.
public final class FramedSocket: @unchecked Sendable {
    // @unchecked: `sendState` and `sharedGeometry` are behind mutexes;
    // `reader` and `receiveFailure` are touched only inside `receive`, which
    // `receiving` keeps to one thread at a time.

    /// The socket, for `poll(2)` and socket options. Reading or writing it
    /// directly would corrupt the framing.
    public let descriptor: FileDescriptor

    /// The bounds this side enforces on frames it receives and sends.
    public let limits: FrameLimits

    /// Whether the connection is TCP (else a Unix socket): `TCP_NODELAY`
    /// applies, and a destination polls its urgent lane differently.
    public let isTCP: Bool

    private struct SendState {
        var encoder = FrameEncoder()
        var failure: WireError?
        /// The page after the last PAGES frame sent, which the next may continue from.
        var pagesEnd: Int?
        /// Set by `splicePageData`: page data goes to the socket by reference.
        var splice: SplicePipe?
    }
    private let sendState = LockedValue(SendState())
    private let sharedGeometry = LockedValue<Geometry?>(nil)

    private var reader: FrameReader
    private var receiveFailure: WireError?
    private let receiving = Atomic<Bool>(false)
    private let sentBytes = Atomic<Int>(0)
    private let receivedBytes = Atomic<Int>(0)

    /// Bytes written to the socket: frame headers, fields and page data.
    public var bytesSent: Int { sentBytes.load(ordering: .relaxed) }
    /// Bytes read from the socket (including any not yet decoded).
    public var bytesReceived: Int { receivedBytes.load(ordering: .relaxed) }

    /// Takes ownership of a connected stream socket (closed on deinit).
    ///
    /// - Parameter isTCP: Whether it is TCP, so `setNoDelay` has effect.
    public init(adopting descriptor: FileDescriptor, isTCP: Bool = false, limits: FrameLimits = FrameLimits()) {
        self.descriptor = descriptor
        self.isTCP = isTCP
        self.limits = limits
        self.reader = FrameReader(socket: descriptor)
    }

    deinit { SocketCalls.close(descriptor) }

    /// A connected pair of sockets (`socketpair(2)`, `AF_UNIX`,
    /// `SOCK_STREAM`), for the two ends of a migration in one process.
    public static func pair(limits: FrameLimits = FrameLimits()) throws(WireError) -> (FramedSocket, FramedSocket) {
        let (first, second) = try SocketCalls.pair()
        return (FramedSocket(adopting: first, limits: limits), FramedSocket(adopting: second, limits: limits))
    }

    /// The region's geometry, which PAGES, ZERO, REQUEST and BITMAP are
    /// checked against; nil until the handshake. The source sets it before
    /// sending HELLO, the destination after receiving HELLO (on both lanes).
    public var geometry: Geometry? {
        get { sharedGeometry.withLock { $0 } }
        set { sharedGeometry.withLock { $0 = newValue } }
    }

    // MARK: Sending

    /// Sends a control frame: every frame but PAGES, which `sendPages` sends.
    ///
    /// Encodes into a reused buffer and writes it with one `sendmsg(2)`
    /// (BITMAP's encoded bytes as a second iovec, uncopied), looping on
    /// partial writes.
    ///
    /// - Throws: What the receiver would throw for this frame (checked before
    ///   anything is written, so the connection stays usable), or `.system`
    ///   when `sendmsg` fails (after which every send throws it again).
    /// - Precondition: `frame` is not `.pages`.
    public func send(_ frame: Frame) throws(WireError) {
        let geometry = self.geometry
        try sendState.withLock { state throws(WireError) in
            if let failure = state.failure { throw failure }
            state.encoder.reset()
            let payload = try frame.encode(into: &state.encoder, geometry: geometry, limits: limits)
            let result = payload.withUnsafeBytes { Self.write(state.encoder.bytes, $0, to: descriptor) }
            try Self.keep(result, asFailureIn: &state.failure)
            sentBytes.add(state.encoder.bytes.count + payload.count, ordering: .relaxed)
        }
    }

    /// Sends a PAGES frame: `count` pages from byte `offset` whose bytes are
    /// `data`.
    ///
    /// The header and fields and the caller's data go out with one
    /// `sendmsg(2)` of two iovecs, looping on partial writes, so page data is
    /// never copied in user space. A frame that starts at most 65,535 pages
    /// after the previous one sent here ends goes out as a continuing frame,
    /// 4 bytes shorter.
    ///
    /// - Parameter isReply: The frame answers a REQUEST.
    /// - Throws: What the receiver would throw (`frameBeforeHandshake`
    ///   without a geometry, `zeroCount`, `offsetUnaligned`,
    ///   `offsetOutOfRange`, `oversizedFrame`), or `.system` from `sendmsg`.
    /// - Precondition: `data.count` is `count * pageSize`.
    public func sendPages(offset: Int, count: Int, isReply: Bool, data: UnsafeRawBufferPointer) throws(WireError) {
        let geometry = self.geometry
        try sendState.withLock { state throws(WireError) in
            if let failure = state.failure { throw failure }
            state.encoder.reset()
            let end = try state.encoder.appendPagesHead(
                offset: offset, count: count, isReply: isReply, dataLength: data.count, previousEnd: state.pagesEnd,
                geometry: geometry, limits: limits)
            if let splice = state.splice {
                try Self.keep(Self.write(state.encoder.bytes, data, splicingWith: splice, to: descriptor),
                              asFailureIn: &state.failure)
            } else {
                try Self.keep(Self.write(state.encoder.bytes, data, to: descriptor), asFailureIn: &state.failure)
            }
            state.pagesEnd = end
            sentBytes.add(state.encoder.bytes.count + data.count, ordering: .relaxed)
        }
    }

    /// `sendAll` of the encoded head and the caller's bytes.
    private static func write(
        _ head: [UInt8], _ tail: UnsafeRawBufferPointer, to socket: FileDescriptor
    ) -> Result<Void, WireError> {
        head.withUnsafeBytes { head in
            Result { () throws(WireError) in try SocketCalls.sendAll(socket, head, tail) }
        }
    }

    /// The encoded head by `sendAll` (`MSG_MORE`), then the caller's bytes
    /// through `splice`.
    private static func write(
        _ head: [UInt8], _ tail: UnsafeRawBufferPointer, splicingWith splice: SplicePipe,
        to socket: FileDescriptor
    ) -> Result<Void, WireError> {
        head.withUnsafeBytes { head in
            Result { () throws(WireError) in
                try SocketCalls.sendAll(socket, head, UnsafeRawBufferPointer(start: nil, count: 0), more: true)
                try splice.send(tail, to: socket)
            }
        }
    }

    /// Keeps a failed write as the error every later send throws: part of a
    /// frame may be on the stream, and nothing sent after it could be framed.
    private static func keep(_ result: Result<Void, WireError>, asFailureIn failure: inout WireError?) throws(WireError) {
        if case .failure(let error) = result {
            failure = error
            throw error
        }
    }

    /// From now on, `sendPages` hands page data to the socket by reference
    /// (`vmsplice` into a pipe, `splice` into the socket) instead of copying
    /// it: see `SplicePipe`, which has the measurements.
    ///
    /// The caller promises that data passed to `sendPages` does not change
    /// until the peer has read it (a served source region does not): the
    /// peer reads the pages as they are when it reads them.
    ///
    /// - Throws: `.system` when no pipe can be had; `sendPages` then goes on
    ///   copying.
    public func splicePageData() throws(WireError) {
        let pipe = try SplicePipe()
        sendState.withLock { $0.splice = pipe }
    }

    // MARK: Receiving

    /// Receives one frame and checks every field against `geometry` and
    /// `limits`.
    ///
    /// Blocks until a whole frame has arrived. For PAGES the data is in
    /// `pageData` until the next call.
    ///
    /// - Throws: `.remote` for an ERROR frame; `.connectionClosed` at end of
    ///   stream between frames; `.truncated` inside one; the case naming the
    ///   first field that breaks the protocol; `.system` when `recv` fails.
    ///   Later calls throw the same error again.
    /// - Precondition: No other thread is in `receive` on this socket.
    /// - Complexity: O(body length); typically one `recv` for many small
    ///   frames, and one `recv` into `pageData` for a large PAGES body.
    public func receive() throws(WireError) -> Frame {
        claimReceiving("receive")
        defer { receiving.store(false, ordering: .releasing) }

        if let receiveFailure { throw receiveFailure }
        defer { receivedBytes.store(reader.bytesReceived, ordering: .relaxed) }
        do throws(WireError) {
            let frame = try reader.decodeFrame(geometry: geometry, limits: limits)
            if case .error(let code, let reason) = frame { throw WireError.remote(code: code, reason: reason) }
            return frame
        } catch {
            receiveFailure = error
            throw error
        }
    }

    /// Claims the receiving side (the reader) for the calling thread; the
    /// caller releases it with a `defer`.
    ///
    /// - Precondition: No other thread is receiving on this socket.
    @inline(__always)
    private func claimReceiving(_ caller: StaticString) {
        let (exchanged, _) = receiving.compareExchange(expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "FramedSocket.\(caller) called while another thread receives")
    }

    /// The data of the PAGES frame `receive` last returned, page-aligned;
    /// empty after any other frame. Valid until the next `receive`, and only
    /// on the receiving thread.
    public var pageData: UnsafeRawBufferPointer { reader.pageData }

    /// Makes `receive` poll the socket (non-blocking `recv`) for up to
    /// `duration` before it sleeps in `recv`; `.zero` turns polling off.
    ///
    /// For a lane whose next frame tends to follow soon, such as replies to
    /// faults: a wake-up from `recv` costs tens of microseconds on a VM, and
    /// the poll spends CPU only while it waits.
    ///
    /// - Parameter condition: Asked each time `receive` would wait for
    ///   bytes; it polls only when this returns true (nil: always). Polling
    ///   takes a CPU that other threads may need more.
    /// - Precondition: `duration` is not negative; no thread is in `receive`.
    public func pollBeforeSleeping(for duration: Duration, when condition: (@Sendable () -> Bool)? = nil) {
        precondition(duration >= .zero, "negative poll time \(duration)")
        claimReceiving("pollBeforeSleeping")
        defer { receiving.store(false, ordering: .releasing) }
        reader.pollNanoseconds = UInt64(duration / .nanoseconds(1))
        reader.pollCondition = condition
    }

    /// Makes `receive` hand out a PAGES frame longer than `pages` pages in
    /// pieces of at most `pages`, each as soon as its bytes are in, as if the
    /// sender had sent that many frames; 0 hands out whole frames.
    ///
    /// For the bulk lane: a thread faulting on a page of a frame still
    /// arriving waits for the piece that holds it to be received and placed,
    /// not for the whole frame. The wire does not change.
    ///
    /// - Precondition: `pages` is not negative; no thread is in `receive`.
    public func receivePagesInPieces(ofAtMost pages: Int) {
        precondition(pages >= 0, "negative piece size \(pages)")
        receivePagesInPieces(ofAtMost: { pages })
    }

    /// As `receivePagesInPieces(ofAtMost:)` with a size that may change:
    /// `pages` is asked, on the receiving thread, as each piece begins.
    ///
    /// For a bulk lane that places small pieces only while a thread waits
    /// at the stream's front, and large ones, cheaper to place, otherwise.
    ///
    /// - Precondition: No thread is in `receive`. A negative answer from
    ///   `pages` counts as 0.
    public func receivePagesInPieces(ofAtMost pages: @escaping @Sendable () -> Int) {
        claimReceiving("receivePagesInPieces")
        defer { receiving.store(false, ordering: .releasing) }
        reader.pagesPerPiece = pages
    }

    /// Moves the data of the PAGES frame `receive` last returned into
    /// `buffer`, which keeps it for as long as its holder likes; the socket
    /// takes `buffer`'s old memory for the frames to come. No bytes are
    /// copied: the two swap their memory. `pageData` is empty afterwards.
    ///
    /// - Precondition: Called on the receiving thread, between `receive`s.
    public func movePageData(into buffer: PageBuffer) {
        claimReceiving("movePageData")
        defer { receiving.store(false, ordering: .releasing) }
        reader.movePageData(into: buffer)
    }

    // MARK: Connection

    /// Shuts the connection down in both directions (`shutdown(2)`,
    /// `SHUT_RDWR`): a thread blocked in `receive` on another thread returns
    /// with `connectionClosed` or `truncated`, and the peer sees end of
    /// stream. The descriptor stays open until deinit.
    public func shutdown() {
        SocketCalls.shutdown(descriptor)
    }

    /// Bounds how long `receive` waits for bytes (`SO_RCVTIMEO`); nil waits
    /// for ever. A receive that times out throws `.system` with `EAGAIN`,
    /// which, like every receive error, ends this direction: meant for
    /// handshakes, where a peer that stays silent is given up on.
    public func setReceiveTimeout(_ timeout: Duration?) throws(WireError) {
        try SocketCalls.setTimeout(descriptor, option: SO_RCVTIMEO, timeout, name: "SO_RCVTIMEO")
    }

    /// Turns off Nagle's algorithm (`setsockopt(TCP_NODELAY)`), so a small
    /// frame leaves at once; the urgent lane wants this. No effect on Unix
    /// sockets, which have no such delay.
    public func setNoDelay() throws(WireError) {
        guard isTCP else { return }
        try SocketCalls.setOption(descriptor, level: Int32(IPPROTO_TCP), option: TCP_NODELAY, value: 1,
                                  name: "TCP_NODELAY")
    }

    /// Sets the kernel's send and receive buffers (`SO_SNDBUF`, `SO_RCVBUF`)
    /// to `bytes` each; the bulk lane wants them large. The kernel caps the
    /// value at `net.core.wmem_max` / `rmem_max`.
    public func setBufferSizes(_ bytes: Int) throws(WireError) {
        let value = Int32(clamping: bytes)
        try SocketCalls.setOption(descriptor, level: SOL_SOCKET, option: SO_SNDBUF, value: value, name: "SO_SNDBUF")
        try SocketCalls.setOption(descriptor, level: SOL_SOCKET, option: SO_RCVBUF, value: value, name: "SO_RCVBUF")
    }

    /// Tunes the socket for `lane`: `setNoDelay` for urgent,
    /// `setBufferSizes(bulkBufferSize)` for bulk. `connect` does this itself;
    /// an accepting side calls it once JOIN has said which lane it is.
    public func configure(for lane: Lane, bulkBufferSize: Int = FramedSocket.bulkBufferSize) throws(WireError) {
        switch lane {
        case .urgent: try setNoDelay()
        case .bulk: try setBufferSizes(bulkBufferSize)
        }
    }

    /// The kernel buffer size asked for on bulk-lane sockets by default:
    /// 256 KiB. Sources and destinations can be configured otherwise.
    ///
    /// Small on purpose. Whatever the two buffers hold is in flight, and a
    /// thread faulting on a page in flight waits for the stream to bring it
    /// (the source sends no second copy). Measured on loopback (2 GiB, 50%
    /// free, 4 workload threads): 4 MiB buffers gave a remote-fault p99 of
    /// 5-24 ms, 256 KiB 0.4-0.6 ms, at the same throughput; the link floor is
    /// the same from 256 KiB to 4 MiB. A long fat network wants about its
    /// bandwidth-delay product.
    public static let bulkBufferSize = 256 << 10
}
