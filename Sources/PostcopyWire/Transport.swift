#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Where a source listens and a destination connects: TCP or a Unix socket.
public enum Endpoint: Sendable, CustomStringConvertible, Equatable {
    /// A host name or numeric IPv4/IPv6 address, and a port (0: any, when
    /// listening).
    case tcp(host: String, port: UInt16)
    /// A Unix stream socket at this file system path.
    case unix(path: String)

    /// Parses `host:port`, `[ipv6]:port`, `unix:/path`, or a path beginning
    /// with `/`.
    ///
    /// - Throws: `.invalidEndpoint` saying what is wrong.
    public init(parsing text: String) throws(WireError) {
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            try SocketAddress.checkUnixPath(path)
            self = .unix(path: path)
            return
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:") else {
                throw .invalidEndpoint("\"\(text)\" has an IPv6 address without \"]:port\" after it")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalidEndpoint("\"\(text)\" is not host:port, [ipv6]:port, unix:/path or /path")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else {
                throw .invalidEndpoint("\"\(text)\": write an IPv6 address in brackets, as [::1]:port")
            }
        }
        guard !host.isEmpty else { throw .invalidEndpoint("\"\(text)\" has no host") }
        guard (1...5).contains(portText.count), portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = UInt16(portText) else {
            throw .invalidEndpoint("\"\(text)\" has port \"\(portText)\"; a port is a number in 0...65535")
        }
        self = .tcp(host: String(host), port: port)
    }

    /// The text `init(parsing:)` reads back to this endpoint.
    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// The socket addresses to try, in order.
    fileprivate func addresses(passive: Bool) throws(WireError) -> [SocketAddress] {
        switch self {
        case .tcp(let host, let port): return try SocketAddress.resolve(host: host, port: port, passive: passive)
        case .unix(let path): return [try SocketAddress(unixPath: path)]
        }
    }
}

/// A listening socket that accepts a migration's connections.
///
/// Accepted sockets are `FramedSocket`s; once JOIN says which lane one is,
/// `configure(for:)` tunes it.
public final class Listener: Sendable {
    /// The listening socket (non-blocking), for `poll(2)`.
    public let descriptor: FileDescriptor
    /// The address actually bound: with port 0 asked for, the port the
    /// kernel chose; for a host name, the numeric address.
    public let endpoint: Endpoint
    /// The limits given to each accepted socket.
    public let limits: FrameLimits
    private let isTCP: Bool

    /// Binds and listens on `endpoint` (`socket`, `bind`, `listen`).
    ///
    /// TCP: `SO_REUSEADDR`, so a restarted source can bind at once; with
    /// several addresses for a host, the first that binds wins. Unix: a stale
    /// socket file (one that refuses connections) at the path is removed
    /// first; a live one, or any other file, makes this fail with
    /// `EADDRINUSE`. The socket file is removed on deinit.
    ///
    /// - Parameter backlog: Pending connections the kernel queues.
    public init(endpoint: Endpoint, backlog: Int32 = 16, limits: FrameLimits = FrameLimits()) throws(WireError) {
        var lastError: WireError?
        for address in try endpoint.addresses(passive: true) {
            let socket = try SocketCalls.open(family: address.family, nonBlocking: true, context: endpoint.description)
            do throws(WireError) {
                if case .unix(let path) = endpoint {
                    try Self.removeStaleSocket(at: path, address: address)
                } else {
                    try SocketCalls.setOption(socket, level: SOL_SOCKET, option: SO_REUSEADDR, value: 1,
                                              name: "SO_REUSEADDR")
                }
                try SocketCalls.bind(socket, to: address, context: endpoint.description)
                try SocketCalls.listen(socket, backlog: backlog, context: endpoint.description)
                let bound = try SocketAddress.local(of: socket)
                self.descriptor = socket
                self.endpoint = bound.endpoint(unixPath: endpoint.unixPath ?? "") ?? endpoint
                self.isTCP = address.family != AF_UNIX
                self.limits = limits
                return
            } catch {
                SocketCalls.close(socket)
                lastError = error
            }
        }
        throw lastError!
    }

    deinit {
        SocketCalls.close(descriptor)
        if case .unix(let path) = endpoint { try? SocketCalls.unlink(path) }
    }

    /// Removes the socket file at `path` when no process listens on it.
    ///
    /// A non-blocking probe `connect` tells: `ECONNREFUSED` means stale.
    /// Success or `EAGAIN` (a full backlog) means someone serves it.
    private static func removeStaleSocket(at path: String, address: SocketAddress) throws(WireError) {
        guard try SocketCalls.isSocketFile(path) else { return }
        let probe = try SocketCalls.open(family: AF_UNIX, nonBlocking: true, context: "unix:\(path) probe")
        defer { SocketCalls.close(probe) }
        switch SocketCalls.connect(probe, to: address) {
        case .failure(.connectionRefused):
            try SocketCalls.unlink(path)
        case .success, .failure(.resourceTemporarilyUnavailable):
            throw .system(operation: "bind(unix:\(path)): another process listens there", errno: .addressInUse)
        case .failure(let errno):
            throw .system(operation: "connect(unix:\(path)) probing for a stale socket", errno: errno)
        }
    }

    /// Waits for and accepts one connection (`poll(2)`, `accept(2)`).
    public func accept() throws(WireError) -> FramedSocket {
        try accept(deadline: nil)!
    }

    /// Accepts one connection, or returns nil when none arrives within
    /// `timeout`.
    public func accept(timeout: Duration) throws(WireError) -> FramedSocket? {
        try accept(deadline: .now + timeout)
    }

    /// Polls then accepts; a connection that vanished between the two
    /// (`EAGAIN`, `ECONNABORTED`) sends it back to polling.
    private func accept(deadline: ContinuousClock.Instant?) throws(WireError) -> FramedSocket? {
        while true {
            let remaining = deadline.map { max(.zero, $0 - .now) }
            guard try SocketCalls.wait(descriptor, for: Int16(POLLIN), timeout: remaining,
                                       operation: "poll(\(endpoint))") else { return nil }
            switch SocketCalls.accept(descriptor) {
            case .success(let socket):
                return FramedSocket(adopting: socket, isTCP: isTCP, limits: limits)
            case .failure(.resourceTemporarilyUnavailable), .failure(.connectionAbort):
                continue
            case .failure(let errno):
                precondition(errno != .badFileDescriptor && errno != .notSocket && errno != .badAddress,
                             "accept on a descriptor this module does not own: \(errno)")
                throw .system(operation: "accept(\(endpoint))", errno: errno)
            }
        }
    }
}

extension Endpoint {
    fileprivate var unixPath: String? {
        if case .unix(let path) = self { return path }
        return nil
    }
}

extension FramedSocket {
    /// Connects to `endpoint` for `lane` and tunes the socket for it
    /// (`configure(for:)`; bulk buffers are sized before `connect`, so TCP
    /// can scale its window to them).
    ///
    /// Tries each address `getaddrinfo(3)` gives (IPv4 and IPv6). While a
    /// connection is refused (`ECONNREFUSED`, or `ENOENT` for a Unix socket
    /// not yet created) it retries, backing off from 10 ms to 250 ms, until
    /// `timeout` has passed, so a destination may start before its source
    /// listens. Each attempt is a non-blocking `connect(2)` and `poll(2)`
    /// bounded by the same deadline.
    ///
    /// Sends nothing: the caller sends JOIN.
    ///
    /// - Parameter bulkBufferSize: The kernel buffers of a bulk lane
    ///   (`configure(for:bulkBufferSize:)`).
    /// - Throws: `.system` with the last attempt's errno (`ETIMEDOUT` if the
    ///   deadline cut an attempt short), `.unresolvable`, `.invalidEndpoint`.
    public static func connect(
        to endpoint: Endpoint, lane: Lane, timeout: Duration, limits: FrameLimits = FrameLimits(),
        bulkBufferSize: Int = FramedSocket.bulkBufferSize
    ) throws(WireError) -> FramedSocket {
        let deadline = ContinuousClock.now + timeout
        let addresses = try endpoint.addresses(passive: false)
        var backoff = Backoff(initial: .milliseconds(10), maximum: .milliseconds(250))
        while true {
            var lastError: WireError?
            var retryable = false
            for address in addresses {
                switch try attempt(address, endpoint: endpoint, lane: lane, deadline: deadline, limits: limits,
                                   bulkBufferSize: bulkBufferSize) {
                case .connected(let socket):
                    return socket
                case .failed(let errno, let canRetry):
                    lastError = .system(operation: "connect(\(endpoint), \(lane) lane)", errno: errno)
                    retryable = retryable || canRetry
                }
            }
            guard retryable, backoff.wait(before: deadline) else { throw lastError! }
        }
    }

    private enum Attempt {
        case connected(FramedSocket)
        case failed(Errno, retryable: Bool)
    }

    /// One non-blocking connect to `address`, waited for until `deadline`.
    private static func attempt(
        _ address: SocketAddress, endpoint: Endpoint, lane: Lane, deadline: ContinuousClock.Instant,
        limits: FrameLimits, bulkBufferSize: Int
    ) throws(WireError) -> Attempt {
        let socket = try SocketCalls.open(family: address.family, nonBlocking: true, context: endpoint.description)
        let framed = FramedSocket(adopting: socket, isTCP: address.family != AF_UNIX, limits: limits)
        if lane == .bulk { try framed.setBufferSizes(bulkBufferSize) }  // before connect: TCP scales its window to it

        var failure: Errno?
        switch SocketCalls.connect(socket, to: address) {
        case .success:
            break
        case .failure(.nowInProgress):
            let remaining = max(.zero, deadline - .now)
            if try SocketCalls.wait(socket, for: Int16(POLLOUT), timeout: remaining,
                                    operation: "poll(connect \(endpoint))") {
                failure = try SocketCalls.pendingError(socket)
            } else {
                failure = .timedOut
            }
        case .failure(let errno):
            failure = errno
        }
        if let failure {
            // A Unix socket's full backlog is EAGAIN: retry like a refusal.
            let retryable = [.connectionRefused, .noSuchFileOrDirectory, .resourceTemporarilyUnavailable]
                .contains(failure)
            return .failed(failure, retryable: retryable)
        }
        try SocketCalls.setBlocking(socket)
        try framed.configure(for: lane, bulkBufferSize: bulkBufferSize)
        return .connected(framed)
    }
}
