#if canImport(Glibc)
import Glibc
#endif
@testable import PostcopyWire
import Testing
import Watchdog

@Suite("SplicePipe: page data by reference", .watchdog)
struct SplicePipeTests {
    @Test("splice into a socket whose peer has gone throws EPIPE; SIGPIPE is neither delivered nor left pending, the mask restored")
    func closedPeer() throws {
        let (sender, receiver) = try FramedSocket.pair()
        receiver.shutdown()
        let pipe = try SplicePipe()
        let data = pattern(tag: 12, count: 3 * 4096)
        let error = #expect(throws: WireError.self) {
            try data.withUnsafeBytes { try pipe.send($0, to: sender.descriptor) }
        }
        guard case .system(let operation, let errno)? = error else {
            Issue.record("not a system error: \(String(describing: error))")
            return
        }
        #expect(operation == "splice to the socket" && errno == .brokenPipe)
        var pending = sigset_t(), mask = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
        pthread_sigmask(SIG_BLOCK, nil, &mask)
        #expect(sigismember(&mask, SIGPIPE) == 0)
    }

    @Test("more data than the pipe holds goes through in several splices, byte for byte")
    func largerThanThePipe() throws {
        let (sender, receiver) = try FramedSocket.pair()
        let pipe = try SplicePipe()
        let data = pattern(tag: 13, count: 3 * SplicePipe.capacity + 4096)
        let reader = Worker { () -> [UInt8] in
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while received.count < data.count {
                let count = buffer.withUnsafeMutableBytes { recv(receiver.descriptor.rawValue, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { break }
                received += buffer[0..<count]
            }
            return received
        }
        try data.withUnsafeBytes { try pipe.send($0, to: sender.descriptor) }
        #expect(try reader.join() == data)
    }
}
