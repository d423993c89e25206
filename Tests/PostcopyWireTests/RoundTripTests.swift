#if canImport(Glibc)
import Glibc
#endif
import PostcopyWire
import Synchronization
import Testing
import Watchdog

@Suite("Round trips over a socketpair", .watchdog)
struct RoundTripTests {
    @Test("Every control frame arrives as sent, in order; ERROR arrives as WireError.remote")
    func everyControlFrame() throws {
        let (source, destination) = try FramedSocket.pair()
        let geometry = try Geometry(pageSize: 4096, pageCount: 4096)
        let hello = Hello(geometry: geometry, features: [.skipBitmap, .zeroReplies], session: 0xFEED_FACE_CAFE_BEEF)
        let offsets = (0..<1000).map { ($0 * 7 % 4096) * 4096 }
        let frames: [Frame] = [
            .join(Join(lane: .bulk, session: 0xFEED_FACE_CAFE_BEEF)),
            .hello(hello),
            .ready,
            .bitmap(kind: Wire.skipBitmapKind, encoded: pattern(tag: 1, count: 3000)),
            .zero(offset: 4095 * 4096, count: 1),
            .discard(offset: 4000 * 4096, count: 96),
            .resume(hasSkipBitmap: false, held: pattern(tag: 2, count: 700)),
            .resume(hasSkipBitmap: true, held: [1]),
            .request(offsets: offsets),
            .complete(pagesHeld: 4096),
            .done,
        ]
        source.geometry = geometry
        let sender = Worker {
            for frame in frames { try source.send(frame) }
            try source.send(.error(code: WireErrorCode.geometryMismatch.rawValue, reason: "région différente"))
        }

        #expect(try destination.receive() == frames[0])
        #expect(try destination.receive() == .hello(hello))
        #expect(destination.geometry == nil)
        destination.geometry = hello.geometry
        for expected in frames.dropFirst(2) {
            let received = try destination.receive()
            #expect(received == expected)
            #expect(destination.pageData.isEmpty)
        }
        #expect(throws: WireError.remote(code: 3, reason: "région différente")) { try destination.receive() }
        try sender.join()
    }

    @Test("PAGES of 1 and 64 pages arrive byte for byte in a page-aligned buffer", arguments: [1, 64])
    func pages(count: Int) throws {
        let (source, destination) = try FramedSocket.pair()
        let geometry = try Geometry(pageSize: 4096, pageCount: 256)
        source.geometry = geometry
        destination.geometry = geometry
        let data = pattern(tag: count, count: count * 4096)
        let offset = (256 - count) * 4096
        let sender = Worker {
            try data.withUnsafeBytes { try source.sendPages(offset: offset, count: count, isReply: count == 1, data: $0) }
            try source.send(.done)
        }

        #expect(try destination.receive() == .pages(offset: offset, count: count, isReply: count == 1))
        #expect(Array(destination.pageData) == data)
        #expect(Int(bitPattern: destination.pageData.baseAddress) % 4096 == 0)
        #expect(try destination.receive() == .done)
        #expect(destination.pageData.isEmpty)
        try sender.join()
    }

    @Test("Page data moved into a PageBuffer outlives the next frames, and the socket receives into the buffer it gave back")
    func movedPageData() throws {
        let (source, destination) = try FramedSocket.pair()
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        // 16 pages go straight into the page buffer (MSG_WAITALL); 1 page comes through the read buffer.
        let counts = [16, 1, 16, 3]
        let sender = Worker {
            for (index, count) in counts.enumerated() {
                let data = pattern(tag: index, count: count * 4096)
                try data.withUnsafeBytes { try source.sendPages(offset: index * 4096, count: count, isReply: false, data: $0) }
            }
        }
        let kept = [PageBuffer(), PageBuffer()]
        // Frames 0 and 1 go to the two buffers; frames 2 and 3 are received into the memory the buffers gave back.
        for (index, count) in counts.enumerated() {
            #expect(try destination.receive() == .pages(offset: index * 4096, count: count, isReply: false))
            if index < kept.count {
                destination.movePageData(into: kept[index])
                #expect(destination.pageData.isEmpty)
            } else {
                #expect(Array(destination.pageData) == pattern(tag: index, count: count * 4096))
            }
        }
        for (index, buffer) in kept.enumerated() {
            #expect(Array(buffer.bytes) == pattern(tag: index, count: counts[index] * 4096))
            #expect(Int(bitPattern: buffer.bytes.baseAddress) % 4096 == 0)
        }
        try sender.join()
    }

    @Test("PAGES frames are handed out in pieces of at most the size asked for, in order, the frames around them intact",
          arguments: [1, 4, 16, 40])
    func pagesInPieces(piece: Int) throws {
        let (source, destination) = try FramedSocket.pair()
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        destination.receivePagesInPieces(ofAtMost: piece)
        // 40 pages (data past the direct-read threshold), a ZERO frame, 3 pages (through the read buffer), a reply.
        let sender = Worker {
            try pattern(tag: 1, count: 40 * 4096).withUnsafeBytes { try source.sendPages(offset: 0, count: 40, isReply: false, data: $0) }
            try source.send(.zero(offset: 40 * 4096, count: 2))
            try pattern(tag: 2, count: 3 * 4096).withUnsafeBytes { try source.sendPages(offset: 42 * 4096, count: 3, isReply: false, data: $0) }
            try pattern(tag: 3, count: 4096).withUnsafeBytes { try source.sendPages(offset: 50 * 4096, count: 1, isReply: true, data: $0) }
        }
        var received = PagesReceived()
        func receivePages(upTo end: Int, tag: Int, isReply: Bool) throws {
            let first = received.next
            while received.next < end {
                let frame = try destination.receive()
                let expectedCount = min(piece, end - received.next)
                #expect(frame == .pages(offset: received.next * 4096, count: expectedCount, isReply: isReply))
                let expected = pattern(tag: tag, count: (end - first) * 4096)
                let from = (received.next - first) * 4096
                #expect(Array(destination.pageData) == Array(expected[from..<(from + expectedCount * 4096)]))
                received.next += expectedCount
                received.pieces += 1
            }
        }
        try receivePages(upTo: 40, tag: 1, isReply: false)
        #expect(received.pieces == (40 + piece - 1) / piece)
        #expect(try destination.receive() == .zero(offset: 40 * 4096, count: 2))
        received.next = 42
        try receivePages(upTo: 45, tag: 2, isReply: false)
        received.next = 50
        try receivePages(upTo: 51, tag: 3, isReply: true)
        try sender.join()
        // The first PAGES names its page; the next two continue (skipping
        // the ZERO pages, then a gap): 8-byte heads.
        #expect(destination.bytesReceived == (12 + 40 * 4096) + 16 + (8 + 3 * 4096) + (8 + 4096))
    }

    @Test("A piece size that changes is asked as each piece begins: pieces of 4, 1 and 16 pages, then the rest whole")
    func piecesOfChangingSize() throws {
        let (source, destination) = try FramedSocket.pair()
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        let sizes = PieceSizes([4, 1, 16, 0])
        destination.receivePagesInPieces { sizes.next() }
        let data = pattern(tag: 5, count: 40 * 4096)
        let sender = Worker {
            try data.withUnsafeBytes { try source.sendPages(offset: 0, count: 40, isReply: false, data: $0) }
            try source.send(.done)
        }
        for (first, count) in [(0, 4), (4, 1), (5, 16), (21, 19)] {
            #expect(try destination.receive() == .pages(offset: first * 4096, count: count, isReply: false))
            #expect(Array(destination.pageData) == Array(data[(first * 4096)..<((first + count) * 4096)]))
        }
        #expect(try destination.receive() == .done)
        #expect(sizes.asked == 4)  // once per piece, not for DONE
        try sender.join()
    }

    @Test("A PAGES frame cut after its first piece: the piece is handed out, then the cut is reported with the frame's length")
    func pagesInPiecesTruncated() throws {
        let peer = RawPeer(geometry: smallGeometry)
        peer.socket.receivePagesInPieces(ofAtMost: 8)
        let bytes = frame(5, pagesHead(page: 0) + pattern(tag: 4, count: 32 * 4096))
        peer.writeAndClose(Array(bytes[0..<(12 + 10 * 4096)]))
        #expect(try peer.socket.receive() == .pages(offset: 0, count: 8, isReply: false))
        #expect(Array(peer.socket.pageData) == Array(pattern(tag: 4, count: 32 * 4096)[0..<(8 * 4096)]))
        #expect(throws: WireError.truncated(expected: 12 + 32 * 4096, received: 12 + 10 * 4096)) { try peer.socket.receive() }
    }

    @Test("A receiver that may poll only when its condition holds asks it before each wait, and gets every frame either way",
          arguments: [false, true])
    func conditionalPolling(condition: Bool) throws {
        let (source, destination) = try FramedSocket.pair()
        let asked = Asked()
        destination.pollBeforeSleeping(for: .milliseconds(5), when: { asked.count.add(1, ordering: .relaxed); return condition })
        let sender = Worker {
            usleep(20_000)  // the receiver waits for the first frame
            try source.send(.ready)
            usleep(20_000)
            try source.send(.done)
        }
        #expect(try destination.receive() == .ready)
        #expect(try destination.receive() == .done)
        try sender.join()
        #expect(asked.count.load(ordering: .relaxed) >= 2)
    }

    @Test("A polling receiver gets frames that arrive while it polls and frames that arrive after it went to sleep")
    func pollingReceive() throws {
        let (source, destination) = try FramedSocket.pair()
        destination.pollBeforeSleeping(for: .milliseconds(5))
        let sender = Worker {
            try source.send(.ready)                 // at once: taken while polling
            usleep(50_000)                          // well past the poll: taken by the sleeping recv
            try source.send(.complete(pagesHeld: 7))
            usleep(1_000)                           // within the next poll
            try source.send(.done)
        }
        #expect(try destination.receive() == .ready)
        #expect(try destination.receive() == .complete(pagesHeld: 7))
        #expect(try destination.receive() == .done)
        try sender.join()
        source.shutdown()
        #expect(throws: WireError.connectionClosed) { try destination.receive() }
    }

    @Test("The largest PAGES frame (eight 2 MiB pages, 16 MiB + 4 bytes) passes the default limit")
    func largestPages() throws {
        let (source, destination) = try FramedSocket.pair()
        let geometry = try Geometry(pageSize: 2 << 20, pageCount: 16)
        source.geometry = geometry
        destination.geometry = geometry
        let data = pattern(tag: 9, count: 8 * geometry.pageSize)
        let sender = Worker {
            try data.withUnsafeBytes { try source.sendPages(offset: 8 * geometry.pageSize, count: 8, isReply: false, data: $0) }
            try data.withUnsafeBytes { try source.sendPages(offset: 0, count: 1, isReply: true, data: UnsafeRawBufferPointer(rebasing: $0[0..<geometry.pageSize])) }
        }
        #expect(try destination.receive() == .pages(offset: 8 * geometry.pageSize, count: 8, isReply: false))
        #expect(destination.pageData.elementsEqual(data))
        #expect(try destination.receive() == .pages(offset: 0, count: 1, isReply: true))
        #expect(destination.pageData.elementsEqual(data[0..<geometry.pageSize]))
        try sender.join()
    }

    @Test("A continuing PAGES frame after a frame of several pages lands after that frame's last page plus its skip")
    func continuationAfterLongFrame() throws {
        let peer = RawPeer(geometry: smallGeometry)
        peer.socket.receivePagesInPieces(ofAtMost: 2)
        let long = pattern(tag: 6, count: 5 * 4096), one = pattern(tag: 7, count: 4096)
        peer.writeAndClose(frame(5, pagesHead(page: 10) + long) + frame(5, one, flags: 2, skip: 4))
        // The 5-page frame comes in pieces of 2, 2 and 1; the next frame counts from page 15.
        for (first, count) in [(10, 2), (12, 2), (14, 1)] {
            #expect(try peer.socket.receive() == .pages(offset: first * 4096, count: count, isReply: false))
        }
        #expect(try peer.socket.receive() == .pages(offset: 19 * 4096, count: 1, isReply: false))
        #expect(Array(peer.socket.pageData) == one)
    }

    @Test("The sender's size check does not depend on whether a frame would continue")
    func sizeCheckIndependentOfHistory() throws {
        let (source, destination) = try FramedSocket.pair(limits: FrameLimits(maxBodyLength: 2 * 4096 + 2))
        defer { withExtendedLifetime(destination) {} }  // an open peer, so the first send goes out
        source.geometry = smallGeometry
        let data = pattern(tag: 8, count: 2 * 4096)
        try data.withUnsafeBytes { bytes in
            let first = UnsafeRawBufferPointer(rebasing: bytes[0..<4096])
            try source.sendPages(offset: 0, count: 1, isReply: false, data: first)
            // Two pages would fit as a continuing frame (8192 bytes) but not
            // as one naming its page (8196): refused either way.
            #expect(throws: WireError.oversizedFrame(length: 8196, limit: 8194)) {
                try source.sendPages(offset: 4096, count: 2, isReply: false, data: bytes)
            }
        }
    }

    @Test("Many small frames interleaved with PAGES, some continuing, stay in order through the read buffer; copied or spliced",
          arguments: [false, true])
    func mixedStream(spliced: Bool) throws {
        let (source, destination) = try FramedSocket.pair()
        if spliced { try source.splicePageData() }
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        // Pages ahead of the previous frame's end continue it, others name
        // their page; the receiver must place both where they were sent.
        @Sendable func first(_ index: Int) -> Int { index * 7 % 48 }
        // Made up front and kept until the end: spliced data is read when
        // the receiver reads it, so it must not be freed and reused before.
        let datas = (0..<2000).map { index in index % 3 == 0 ? pattern(tag: index, count: (index % 16 + 1) * 4096) : [] }
        let sender = Worker {
            for index in 0..<2000 {
                if index % 3 == 0 {
                    let count = index % 16 + 1
                    try datas[index].withUnsafeBytes {
                        try source.sendPages(offset: first(index) * 4096, count: count, isReply: index % 2 == 0, data: $0)
                    }
                } else {
                    try source.send(.zero(offset: (index % 64) * 4096, count: 1))
                }
            }
        }
        for index in 0..<2000 {
            if index % 3 == 0 {
                let count = index % 16 + 1
                #expect(try destination.receive() == .pages(offset: first(index) * 4096, count: count, isReply: index % 2 == 0))
                #expect(Array(destination.pageData) == datas[index])
            } else {
                #expect(try destination.receive() == .zero(offset: (index % 64) * 4096, count: 1))
            }
        }
        try sender.join()
        withExtendedLifetime(datas) {}
    }

    @Test("Spliced page data is sent by reference: the peer reads the pages as they are when it reads them")
    func splicedByReference() throws {
        let (source, destination) = try FramedSocket.pair()
        try source.splicePageData()
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 1)
        try source.sendPages(offset: 0, count: 1, isReply: false, data: UnsafeRawBufferPointer(page))
        // Changed after the send returned and before the peer reads it: a
        // copy would carry the 1s, a splice carries the pages themselves.
        page.initializeMemory(as: UInt8.self, repeating: 2)
        #expect(try destination.receive() == .pages(offset: 0, count: 1, isReply: false))
        #expect(destination.pageData.allSatisfy { $0 == 2 })
    }

    @Test("Splicing to a closed peer throws EPIPE; SIGPIPE is neither delivered nor left pending, and the mask is restored")
    func splicedToClosedPeer() throws {
        let (source, destination) = try FramedSocket.pair()
        try source.splicePageData()
        source.geometry = smallGeometry
        destination.shutdown()
        let data = pattern(tag: 11, count: 4096)
        let error = #expect(throws: WireError.self) {
            try data.withUnsafeBytes { try source.sendPages(offset: 0, count: 1, isReply: false, data: $0) }
        }
        guard case .system(_, let errno)? = error else { Issue.record("not a system error: \(String(describing: error))"); return }
        #expect(errno == .brokenPipe)
        var pending = sigset_t(), mask = sigset_t()
        sigemptyset(&pending)
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
        pthread_sigmask(SIG_BLOCK, nil, &mask)
        #expect(sigismember(&mask, SIGPIPE) == 0)
    }

    @Test("The encoder writes exactly the documented bytes")
    func exactBytes() throws {
        let hello = Hello(geometry: smallGeometry, features: [.skipBitmap], session: 0x0102_0304_0506_0708)
        #expect(try wireBytes(geometry: nil) { try $0.send(.hello(hello)) } ==
                frame(2, helloBody(regionLength: 64 * 4096, features: 1, session: 0x0102_0304_0506_0708)))
        #expect(try wireBytes(geometry: nil) { try $0.send(.join(Join(lane: .bulk, session: 9))) } ==
                frame(1, joinBody(lane: 1, session: 9)))
        #expect(try wireBytes(geometry: smallGeometry) { try $0.send(.request(offsets: [4096, 0])) } ==
                frame(7, requestBody(pages: [1, 0])))
        #expect(try wireBytes(geometry: smallGeometry) { try $0.send(.zero(offset: 4096, count: 3)) } ==
                frame(6, rangeBody(page: 1, count: 3)))
        let data = pattern(tag: 3, count: 4096)
        #expect(try wireBytes(geometry: smallGeometry) { socket in
            try data.withUnsafeBytes { bytes in
                try socket.sendPages(offset: 8192, count: 1, isReply: true, data: bytes)       // the first: names page 2
                try socket.sendPages(offset: 5 * 4096, count: 1, isReply: false, data: bytes)  // continues past 3 and 4
                try socket.sendPages(offset: 6 * 4096, count: 1, isReply: true, data: bytes)   // continues at once
                try socket.sendPages(offset: 0, count: 1, isReply: false, data: bytes)         // behind: names page 0
            }
        } == frame(5, pagesHead(page: 2) + data, flags: 1) + frame(5, data, flags: 2, skip: 2)
            + frame(5, data, flags: 3) + frame(5, pagesHead(page: 0) + data))
        // A continuing frame counts from the end of a longer frame, not its start.
        let three = pattern(tag: 5, count: 3 * 4096)
        #expect(try wireBytes(geometry: smallGeometry) { socket in
            try three.withUnsafeBytes { try socket.sendPages(offset: 10 * 4096, count: 3, isReply: false, data: $0) }
            try data.withUnsafeBytes { try socket.sendPages(offset: 17 * 4096, count: 1, isReply: false, data: $0) }
        } == frame(5, pagesHead(page: 10) + three) + frame(5, data, flags: 2, skip: 4))
        // A send refused before writing leaves the next frame continuing from the last one sent.
        #expect(try wireBytes(geometry: smallGeometry) { socket in
            try three.withUnsafeBytes { bytes in
                try socket.sendPages(offset: 0, count: 2, isReply: false, data: UnsafeRawBufferPointer(rebasing: bytes[0..<8192]))
                #expect(throws: WireError.offsetOutOfRange(offset: 63 * 4096, count: 3, regionLength: 64 * 4096)) {
                    try socket.sendPages(offset: 63 * 4096, count: 3, isReply: false, data: bytes)
                }
            }
            try data.withUnsafeBytes { try socket.sendPages(offset: 4 * 4096, count: 1, isReply: false, data: $0) }
        } == frame(5, pagesHead(page: 0) + Array(three[0..<8192])) + frame(5, data, flags: 2, skip: 2))
        // A skip of 65,535 pages still continues; one more names the page.
        let wide = try Geometry(pageSize: 4096, pageCount: 140_000)
        #expect(try wireBytes(geometry: wide) { socket in
            try data.withUnsafeBytes { bytes in
                try socket.sendPages(offset: 0, count: 1, isReply: false, data: bytes)
                try socket.sendPages(offset: 65_536 * 4096, count: 1, isReply: false, data: bytes)
                try socket.sendPages(offset: (65_537 + 65_536) * 4096, count: 1, isReply: false, data: bytes)
                try socket.sendPages(offset: 139_999 * 4096, count: 1, isReply: false, data: bytes)
            }
        } == frame(5, pagesHead(page: 0) + data) + frame(5, data, flags: 2, skip: .max)
            + frame(5, pagesHead(page: 131_073) + data) + frame(5, data, flags: 2, skip: UInt16(139_999 - 131_074)))
        #expect(Array(try wireBytes(geometry: nil) { try $0.send(.ready) }) == [0, 0, 0, 0, 3, 0, 0, 0])
        // "CPCY" in memory order.
        #expect(Array(try wireBytes(geometry: nil) { try $0.send(.join(Join(lane: .urgent, session: 0))) }[8..<12])
                == Array("CPCY".utf8))
    }
}

/// Where a test reading PAGES in pieces has got to.
private struct PagesReceived {
    var next = 0
    var pieces = 0
}

/// Piece sizes handed out in turn (0 once they run out), counting the asks.
private final class PieceSizes: Sendable {
    private let state: Mutex<(sizes: [Int], asked: Int)>
    init(_ sizes: [Int]) { state = Mutex((sizes, 0)) }
    func next() -> Int {
        state.withLock { state in
            state.asked += 1
            return state.sizes.isEmpty ? 0 : state.sizes.removeFirst()
        }
    }
    var asked: Int { state.withLock { $0.asked } }
}

/// How often a poll condition was asked, from the receiving thread.
private final class Asked: Sendable {
    let count = Atomic<Int>(0)
}
