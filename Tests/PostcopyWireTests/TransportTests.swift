#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostcopyWire
import Testing
import Watchdog

/// Whether this machine can bind the IPv6 loopback address.
private func ipv6LoopbackAvailable() -> Bool {
    (try? Listener(endpoint: .tcp(host: "::1", port: 0))) != nil
}

@Suite("Listener and connect over real sockets", .watchdog)
struct TransportTests {
    /// A whole migration's conversation: JOIN on both lanes, HELLO, READY,
    /// `pageFrames` PAGES of 4 pages on the bulk lane, COMPLETE, DONE.
    /// Returns the destination's two sockets for the caller to inspect.
    private func migrate(through listener: Listener, pageFrames: Int = 256) throws -> (urgent: FramedSocket, bulk: FramedSocket) {
        let geometry = try Geometry(pageSize: 4096, pageCount: pageFrames * 4)
        let session: UInt64 = 0xC0FFEE
        let endpoint = listener.endpoint
        let destination = Worker { () -> (FramedSocket, FramedSocket) in
            let urgent = try FramedSocket.connect(to: endpoint, lane: .urgent, timeout: .seconds(10))
            try urgent.send(.join(Join(lane: .urgent, session: session)))
            guard case .hello(let hello) = try urgent.receive() else { throw WireError.unexpectedFrame(expected: "HELLO", got: "another frame") }
            try hello.geometry.check(matches: geometry, peer: "the source")
            urgent.geometry = hello.geometry

            let bulk = try FramedSocket.connect(to: endpoint, lane: .bulk, timeout: .seconds(10))
            bulk.geometry = hello.geometry
            try bulk.send(.join(Join(lane: .bulk, session: hello.session)))
            try urgent.send(.ready)
            for index in 0..<pageFrames {
                let frame = try bulk.receive()
                guard frame == .pages(offset: index * 4 * 4096, count: 4, isReply: false),
                      Array(bulk.pageData) == pattern(tag: index, count: 4 * 4096) else {
                    throw WireError.unexpectedFrame(expected: "PAGES \(index)", got: "\(frame)")
                }
            }
            try urgent.send(.complete(pagesHeld: geometry.pageCount))
            let done = try urgent.receive()
            guard done == .done else { throw WireError.unexpectedFrame(expected: "DONE", got: "\(done)") }
            return (urgent, bulk)
        }

        // The source: accept both lanes, in whichever order they come.
        var lanes: [Lane: FramedSocket] = [:]
        for _ in 0..<2 {
            let socket = try #require(try listener.accept(timeout: .seconds(10)))
            guard case .join(let join) = try socket.receive() else { throw WireError.unexpectedFrame(expected: "JOIN", got: "another frame") }
            #expect(join.session == session)
            try socket.configure(for: join.lane)
            socket.geometry = geometry
            if join.lane == .urgent {
                try socket.send(.hello(Hello(geometry: geometry, features: .known, session: session)))
            }
            lanes[join.lane] = socket
        }
        let urgent = try #require(lanes[.urgent])
        let bulk = try #require(lanes[.bulk])
        #expect(try urgent.receive() == .ready)
        for index in 0..<pageFrames {
            try pattern(tag: index, count: 4 * 4096).withUnsafeBytes {
                try bulk.sendPages(offset: index * 4 * 4096, count: 4, isReply: false, data: $0)
            }
        }
        #expect(try urgent.receive() == .complete(pagesHeld: geometry.pageCount))
        try urgent.send(.done)
        if listener.endpoint.description.hasPrefix("unix:") == false {
            #expect(socketOption(urgent, level: Int32(IPPROTO_TCP), TCP_NODELAY) != 0, "source urgent lane")
        }
        return try destination.join()
    }

    @Test("TCP loopback on port 0: the kernel's port is reported, a migration's frames flow, the urgent lane has TCP_NODELAY")
    func tcpLoopback() throws {
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        guard case .tcp(let host, let port) = listener.endpoint else { Issue.record("not TCP"); return }
        #expect(host == "127.0.0.1")
        #expect(port != 0)
        let (urgent, bulk) = try migrate(through: listener)
        #expect(socketOption(urgent, level: Int32(IPPROTO_TCP), TCP_NODELAY) != 0)
        #expect(socketOption(bulk, level: Int32(IPPROTO_TCP), TCP_NODELAY) == 0)
        // Linux doubles the value asked for, for its bookkeeping.
        #expect(socketOption(bulk, level: SOL_SOCKET, SO_RCVBUF) >= Int32(FramedSocket.bulkBufferSize))
    }

    @Test("the bulk lane's kernel buffers follow bulkBufferSize on both ends, up to net.core.rmem_max")
    func bulkBufferSize() throws {
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let rmemMax = Int32(try String(contentsOfFile: "/proc/sys/net/core/rmem_max", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines))!
        let asked = 2 << 20
        let large = try FramedSocket.connect(to: listener.endpoint, lane: .bulk, timeout: .seconds(10), bulkBufferSize: asked)
        let accepted = try listener.accept()
        try accepted.configure(for: .bulk, bulkBufferSize: asked)
        let standard = try FramedSocket.connect(to: listener.endpoint, lane: .bulk, timeout: .seconds(10))
        _ = try listener.accept()
        // Linux doubles what it grants (for its bookkeeping), and grants at most rmem_max.
        let expected = 2 * min(Int32(asked), rmemMax)
        #expect(socketOption(large, level: SOL_SOCKET, SO_RCVBUF) == expected)
        #expect(socketOption(accepted, level: SOL_SOCKET, SO_RCVBUF) == expected)
        #expect(socketOption(standard, level: SOL_SOCKET, SO_RCVBUF) == 2 * min(Int32(FramedSocket.bulkBufferSize), rmemMax))
    }

    @Test("IPv6 loopback", .enabled(if: ipv6LoopbackAvailable()))
    func ipv6Loopback() throws {
        let listener = try Listener(endpoint: try Endpoint(parsing: "[::1]:0"))
        guard case .tcp(let host, _) = listener.endpoint else { Issue.record("not TCP"); return }
        #expect(host == "::1")
        #expect(listener.endpoint.description.hasPrefix("[::1]:"))
        _ = try migrate(through: listener, pageFrames: 8)
    }

    @Test("Unix socket in a temporary directory; the socket file is removed with the listener")
    func unixSocket() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/source.sock"
        do {
            let listener = try Listener(endpoint: .unix(path: path))
            #expect(listener.endpoint == .unix(path: path))
            _ = try migrate(through: listener)
            #expect(FileManager.default.fileExists(atPath: path))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("A stale socket file is replaced; a live listener or a regular file is not")
    func staleSocketFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stale.sock"

        // Bind a socket and close it without unlinking: a stale file.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        close(fd)
        let listener = try Listener(endpoint: .unix(path: path))

        let live = #expect(throws: WireError.self) { try Listener(endpoint: .unix(path: path)) }
        guard case .system(_, let errno) = live else { Issue.record("\(String(describing: live))"); return }
        #expect(errno == .addressInUse)
        withExtendedLifetime(listener) {}

        let regular = directory + "/regular"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: regular))
        let refused = #expect(throws: WireError.self) { try Listener(endpoint: .unix(path: regular)) }
        guard case .system(_, let regularErrno) = refused else { Issue.record("\(String(describing: refused))"); return }
        #expect(regularErrno == .addressInUse)
        #expect(try String(contentsOfFile: regular, encoding: .utf8) == "keep me")
    }

    @Test("connect retries until the listener appears")
    func connectBeforeListen() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = Endpoint.unix(path: directory + "/late.sock")
        let destination = Worker {
            let socket = try FramedSocket.connect(to: endpoint, lane: .urgent, timeout: .seconds(10))
            try socket.send(.join(Join(lane: .urgent, session: 1)))
        }
        usleep(300_000)
        let listener = try Listener(endpoint: endpoint)
        let accepted = try #require(try listener.accept(timeout: .seconds(10)))
        #expect(try accepted.receive() == .join(Join(lane: .urgent, session: 1)))
        try destination.join()
    }

    @Test("connect to a port nobody listens on gives up at the timeout with ECONNREFUSED")
    func connectRefused() throws {
        let port: UInt16
        do {
            let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
            guard case .tcp(_, let bound) = listener.endpoint else { return }
            port = bound
        }
        let start = ContinuousClock.now
        let error = #expect(throws: WireError.self) {
            try FramedSocket.connect(to: .tcp(host: "127.0.0.1", port: port), lane: .bulk, timeout: .milliseconds(400))
        }
        let elapsed = ContinuousClock.now - start
        guard case .system(let operation, let errno) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(errno == .connectionRefused)
        #expect(operation.contains("127.0.0.1:\(port)"))
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(5))
    }

    @Test("accept(timeout:) returns nil when nobody connects")
    func acceptTimeout() throws {
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let start = ContinuousClock.now
        #expect(try listener.accept(timeout: .milliseconds(100)) == nil)
        #expect(ContinuousClock.now - start >= .milliseconds(100))
    }

    @Test("An unresolvable host names the host")
    func unresolvable() {
        let error = #expect(throws: WireError.self) {
            try FramedSocket.connect(to: .tcp(host: "no-such-host.invalid", port: 1), lane: .urgent, timeout: .milliseconds(10))
        }
        if case .unresolvable(let host, _) = error { #expect(host == "no-such-host.invalid") }
        else { Issue.record("expected .unresolvable, got \(String(describing: error))") }
    }
}
