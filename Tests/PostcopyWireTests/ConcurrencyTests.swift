#if canImport(Glibc)
import Glibc
#endif
import PostcopyWire
import Testing
import Watchdog

@Suite("Sending from several threads", .watchdog)
struct ConcurrencyTests {
    /// What thread `sender` puts in its `sequence`-th frame: PAGES of a size
    /// that varies up to 64 KiB (large enough for partial writes), or a REQUEST.
    private static func frame(sender: Int, sequence: Int) -> (frame: Frame, data: [UInt8]) {
        let geometry = smallGeometry
        if sequence % 2 == 0 {
            let count = 1 + (sender * 7 + sequence) % 16
            let offset = (sequence % (geometry.pageCount - count + 1)) * geometry.pageSize
            return (.pages(offset: offset, count: count, isReply: sender % 2 == 0),
                    pattern(tag: sender * 100_000 + sequence, count: count * geometry.pageSize))
        }
        // The offsets spell out who sent it and when.
        let offsets = [sender, sequence % 64].map { $0 * geometry.pageSize }
            + Array(repeating: 0, count: sequence % 50)
        return (.request(offsets: offsets), [])
    }

    @Test("Frames sent from 4 threads at once never interleave")
    func fourSenders() throws {
        let (source, destination) = try FramedSocket.pair()
        source.geometry = smallGeometry
        destination.geometry = smallGeometry
        let senders = 4
        let framesPerSender = 400
        let plan = (0..<senders).map { sender in
            (0..<framesPerSender).map { Self.frame(sender: sender, sequence: $0) }
        }
        let workers = plan.map { frames in
            Worker {
                for (frame, data) in frames {
                    if case .pages(let offset, let count, let isReply) = frame {
                        try data.withUnsafeBytes {
                            try source.sendPages(offset: offset, count: count, isReply: isReply, data: $0)
                        }
                    } else {
                        try source.send(frame)
                    }
                }
            }
        }

        // Each sender's frames arrive in its order, so every frame received
        // must be exactly one sender's next frame, data included.
        var next = [Int](repeating: 0, count: senders)
        for _ in 0..<(senders * framesPerSender) {
            let received = try destination.receive()
            let matches = (0..<senders).filter { sender in
                guard next[sender] < framesPerSender else { return false }
                let expected = plan[sender][next[sender]]
                return expected.frame == received && destination.pageData.elementsEqual(expected.data)
            }
            try #require(matches.count == 1, "frame \(received) matches no sender's next frame")
            next[matches[0]] += 1
        }
        #expect(next == [Int](repeating: framesPerSender, count: senders))
        for worker in workers { try worker.join() }
    }

    @Test("shutdown unblocks a receive waiting on another thread")
    func shutdownUnblocksReceive() throws {
        let (socket, peer) = try FramedSocket.pair()
        let receiver = Worker { () -> WireError? in
            do throws(WireError) { _ = try socket.receive(); return nil } catch { return error }
        }
        usleep(100_000)
        socket.shutdown()
        #expect(try receiver.join() == .connectionClosed)
        _ = peer
    }

    @Test("Sending to a closed peer throws EPIPE instead of raising SIGPIPE, then keeps throwing it")
    func brokenPipe() throws {
        let socket: FramedSocket
        do {
            let (end, peer) = try FramedSocket.pair()
            socket = end
            withExtendedLifetime(peer) {}  // closed when this scope ends
        }
        let error = #expect(throws: WireError.self) { try socket.send(.ready) }
        guard case .system(let operation, let errno) = error else {
            Issue.record("expected a system error, got \(String(describing: error))")
            return
        }
        #expect(operation == "sendmsg")
        #expect(errno == .brokenPipe)
        #expect(throws: error!) { try socket.send(.done) }
    }
}
