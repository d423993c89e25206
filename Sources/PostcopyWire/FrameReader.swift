import SystemCalls
import SystemPackage

/// Buffered reading of frames from a stream socket.
///
/// Headers and small bodies come through a 256 KiB read buffer, so one
/// `recv` typically brings in many frames. Large page data is received
/// straight into a separate page-aligned buffer (`pages`), so it is neither
/// copied nor bounced through the read buffer.
///
/// Keeps count of the current frame's bytes, so that end of stream becomes
/// `connectionClosed` between frames and `truncated` inside one.
struct FrameReader: ~Copyable {
    /// Size of the read buffer.
    static let bufferCapacity = 256 << 10
    /// Page data at least this long bypasses the read buffer.
    static let directReadThreshold = 64 << 10

    private let socket: FileDescriptor
    private var buffer: IOBuffer
    /// Unread bytes are `buffer[readerIndex..<writerIndex]`.
    private var readerIndex = 0
    private var writerIndex = 0

    /// The last PAGES frame's data is `pages[0..<pageDataCount]`.
    private var pages = IOBuffer(capacity: 0)
    private var pageDataCount = 0

    /// Bytes of the current frame consumed so far, and its whole length
    /// (the header's, until the header has been read).
    private var frameConsumed = 0
    private var frameLength = Wire.headerLength
    /// Bytes taken off the socket so far, for statistics.
    private(set) var bytesReceived = 0
    /// How long `fill` polls (non-blocking `recv`) before it sleeps in `recv`.
    var pollNanoseconds: UInt64 = 0
    /// Whether to poll this time; nil: always.
    var pollCondition: (@Sendable () -> Bool)?
    /// Asked as each piece of a PAGES frame begins: frames longer than that
    /// many pages are handed out in pieces of at most that many, each as
    /// soon as its bytes are in; 0 or less (or nil): whole frames.
    var pagesPerPiece: (@Sendable () -> Int)?
    /// The page after the last PAGES frame received, which a continuing
    /// PAGES frame counts from; nil before the first.
    var pagesEnd: Int?
    /// The pages of the current PAGES frame not handed out yet, if it is
    /// being handed out in pieces.
    private var piecesLeft: (offset: Int, count: Int, isReply: Bool)?

    init(socket: FileDescriptor) {
        self.socket = socket
        self.buffer = IOBuffer(capacity: Self.bufferCapacity)
    }

    /// The page data of the last frame, empty unless it was PAGES.
    var pageData: UnsafeRawBufferPointer { pages.bytes(0..<pageDataCount) }

    /// Hands the last frame's page data to `buffer` and takes `buffer`'s
    /// memory for the next frames' (grown when a frame needs more).
    mutating func movePageData(into buffer: PageBuffer) {
        buffer.exchange(with: &pages, count: &pageDataCount)
        pageDataCount = 0
    }

    private var readable: Int { writerIndex - readerIndex }

    // MARK: Frame accounting

    /// Starts a frame: forgets the previous frame's page data.
    mutating func beginFrame() {
        frameConsumed = 0
        frameLength = Wire.headerLength
        pageDataCount = 0
    }

    /// Records the frame's full length once its header is known.
    mutating func setFrameLength(_ length: Int) {
        frameLength = length
    }

    /// The error for end of stream now: nothing of this frame received means
    /// a clean close; anything means a cut.
    private func endOfStream() -> WireError {
        let received = frameConsumed + readable
        return received == 0 ? .connectionClosed : .truncated(expected: frameLength, received: received)
    }

    // MARK: Reading

    /// Makes `count` bytes readable from the buffer, receiving as needed.
    ///
    /// - Precondition: `count` fits the buffer; callers ask only for a
    ///   header or a body's fixed fields.
    mutating func prefetch(_ count: Int) throws(WireError) {
        precondition(count <= buffer.capacity, "prefetch of \(count) bytes exceeds the read buffer")
        while readable < count {
            if buffer.capacity - readerIndex < count { compact() }
            try fill()
        }
    }

    /// Consumes a little-endian integer, receiving as needed.
    mutating func read<Value: FixedWidthInteger>(_: Value.Type) throws(WireError) -> Value {
        let size = MemoryLayout<Value>.size
        try prefetch(size)
        let value = buffer.load(Value.self, at: readerIndex)
        consume(size)
        return value
    }

    /// Consumes `count` bytes into a new array, receiving as needed.
    ///
    /// - Complexity: O(`count`); one `recv` per read buffer's worth.
    mutating func readBytes(_ count: Int) throws(WireError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            if readable == 0 { try fill() }
            let chunk = min(readable, count - bytes.count)
            buffer.append(readerIndex..<readerIndex + chunk, to: &bytes)
            consume(chunk)
        }
        return bytes
    }

    /// Consumes `count` bytes of page data into the page buffer (grown as
    /// needed), where `pageData` shows them.
    ///
    /// What the read buffer already holds is copied; a large remainder is
    /// received directly with `MSG_WAITALL`, a small one through the read
    /// buffer so that the frames behind it come in with the same `recv`.
    ///
    /// - Parameter dataBehind: Page data of the same frame that follows
    ///   these `count` bytes (a frame handed out in pieces). What follows
    ///   is more data, not frames, so with this much behind it even a small
    ///   remainder is received directly.
    mutating func readPageData(_ count: Int, dataBehind: Int = 0) throws(WireError) {
        pages.reserve(discarding: count)
        var filled = 0
        while filled < count {
            if readable > 0 {
                let chunk = min(readable, count - filled)
                buffer.copy(readerIndex..<readerIndex + chunk, to: &pages, at: filled)
                consume(chunk)
                filled += chunk
            } else if count - filled + dataBehind >= Self.directReadThreshold {
                let received = try pages.withWritableBytes(filled..<count) { bytes throws(WireError) in
                    try SocketCalls.receive(socket, into: bytes, waitAll: true)
                }
                if received == 0 { throw endOfStream() }
                bytesReceived += received
                frameConsumed += received
                filled += received
            } else {
                try fill()
            }
        }
        pageDataCount = count
    }

    // MARK: PAGES in pieces

    /// Reads the data of a PAGES frame whose fields are consumed: all of it,
    /// or only its first piece when the frame is longer than `pagesPerPiece()`
    /// (`nextPiece` hands out the rest).
    ///
    /// - Returns: The frame, or its first piece as a PAGES frame of its own.
    mutating func readPages(offset: Int, count: Int, isReply: Bool, geometry: Geometry) throws(WireError) -> Frame {
        let size = pagesPerPiece?() ?? 0
        let piece = size > 0 ? min(count, size) : count
        try readPageData(piece * geometry.pageSize, dataBehind: (count - piece) * geometry.pageSize)
        if piece < count {
            piecesLeft = (offset + piece * geometry.pageSize, count - piece, isReply)
        }
        return .pages(offset: offset, count: piece, isReply: isReply)
    }

    /// The next piece of the PAGES frame being handed out in pieces; nil when
    /// the next bytes start a new frame.
    mutating func nextPiece(geometry: Geometry?) throws(WireError) -> Frame? {
        guard let left = piecesLeft else { return nil }
        // Pieces are pending only after a PAGES frame, which needs the geometry.
        guard let geometry else { preconditionFailure("PAGES pieces pending without a geometry") }
        piecesLeft = nil
        pageDataCount = 0
        return try readPages(offset: left.offset, count: left.count, isReply: left.isReply, geometry: geometry)
    }

    // MARK: Buffer management

    private mutating func consume(_ count: Int) {
        readerIndex += count
        frameConsumed += count
        if readerIndex == writerIndex {
            readerIndex = 0
            writerIndex = 0
        }
    }

    /// Moves the unread bytes to the front, to make room behind them.
    private mutating func compact() {
        buffer.moveToFront(readerIndex..<writerIndex)
        writerIndex -= readerIndex
        readerIndex = 0
    }

    /// One `recv` into the free space behind the unread bytes; first, for
    /// up to `pollNanoseconds`, non-blocking ones, so that bytes arriving
    /// soon are taken without the sleep and wake-up.
    ///
    /// - Throws: `connectionClosed` or `truncated` at end of stream.
    private mutating func fill() throws(WireError) {
        if writerIndex == buffer.capacity { compact() }
        let poll = pollNanoseconds
        let received = try buffer.withWritableBytes(writerIndex..<buffer.capacity) { bytes throws(WireError) in
            if poll > 0 && pollCondition?() ?? true {
                let deadline = monotonicNanoseconds() &+ poll
                repeat {
                    if let count = try SocketCalls.receiveIfReady(socket, into: bytes) { return count }
                } while monotonicNanoseconds() < deadline
            }
            return try SocketCalls.receive(socket, into: bytes)
        }
        if received == 0 { throw endOfStream() }
        bytesReceived += received
        writerIndex += received
    }
}
