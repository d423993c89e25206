#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// An IPv4, IPv6 or Unix socket address, held in a `sockaddr_storage`.
///
/// The only type in the module that reinterprets `sockaddr` memory: the
/// socket calls get the address through `withSockaddr`, and everything else
/// sees families, ports and strings.
struct SocketAddress: Sendable {
    private var storage = sockaddr_storage()
    private(set) var length: socklen_t

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    var family: Int32 { Int32(storage.ss_family) }

    /// A Unix socket address for `path`.
    ///
    /// - Throws: `.invalidEndpoint` when the path is empty, contains NUL, or
    ///   does not fit `sun_path` with its terminator.
    init(unixPath path: String) throws(WireError) {
        try Self.checkUnixPath(path)
        length = socklen_t(MemoryLayout<sockaddr_un>.size)
        withUnsafeMutableBytes(of: &storage) { raw in
            let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_un.self)
            address.pointee.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.pointee.sun_path) { sunPath in
                sunPath.copyBytes(from: path.utf8)
                sunPath[path.utf8.count] = 0
            }
        }
    }

    /// The longest Unix socket path: `sun_path` less its NUL terminator.
    static let maxUnixPathLength = MemoryLayout<sockaddr_un>.size - MemoryLayout<sa_family_t>.size - 1

    /// Throws `.invalidEndpoint` unless `path` can name a Unix socket.
    static func checkUnixPath(_ path: String) throws(WireError) {
        guard !path.isEmpty else { throw .invalidEndpoint("a Unix socket path cannot be empty") }
        guard !path.utf8.contains(0) else { throw .invalidEndpoint("the Unix socket path \"\(path)\" contains NUL") }
        guard path.utf8.count <= maxUnixPathLength else {
            throw .invalidEndpoint("the Unix socket path \"\(path)\" is \(path.utf8.count) bytes; the limit is \(maxUnixPathLength)")
        }
    }

    /// A copy of the `length` bytes of address at `address`.
    private init(copying address: UnsafePointer<sockaddr>, length: socklen_t) {
        precondition(Int(length) <= MemoryLayout<sockaddr_storage>.size, "a socket address larger than sockaddr_storage")
        self.length = length
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
    }

    /// The stream-socket addresses of `host` and `port`, IPv4 and IPv6, in
    /// the order `getaddrinfo(3)` prefers.
    ///
    /// - Parameter passive: For `bind` (`AI_PASSIVE`), not `connect`.
    /// - Throws: `.unresolvable` with `gai_strerror`'s text, or `.system`
    ///   for `EAI_SYSTEM`.
    static func resolve(host: String, port: UInt16, passive: Bool) throws(WireError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            if status == EAI_SYSTEM {
                throw .system(operation: "getaddrinfo(\(host))", errno: Errno(rawValue: Glibc.errno))
            }
            throw .unresolvable(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = current.pointee.ai_addr {
                addresses.append(SocketAddress(copying: address, length: current.pointee.ai_addrlen))
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else { throw .unresolvable(host: host, reason: "no stream-socket address") }
        return addresses
    }

    /// The address `socket` is bound to (`getsockname(2)`).
    static func local(of socket: FileDescriptor) throws(WireError) -> SocketAddress {
        var address = SocketAddress(empty: ())
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutableBytes(of: &address.storage) { raw in
            Syscall.onSocket("getsockname") {
                getsockname(socket.rawValue, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }.get()
        address.length = length
        return address
    }

    private init(empty: ()) {
        length = 0
    }

    /// Calls `body` with the address as the socket calls take it.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The port of an IPv4 or IPv6 address, else nil.
    var port: UInt16? {
        withUnsafeBytes(of: storage) { raw -> UInt16? in
            switch family {
            case AF_INET: return UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
            case AF_INET6: return UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
            default: return nil
            }
        }
    }

    /// The numeric host of an IPv4 or IPv6 address ("127.0.0.1", "::1"),
    /// from `getnameinfo(3)` with `NI_NUMERICHOST`; else nil.
    var numericHost: String? {
        guard family == AF_INET || family == AF_INET6 else { return nil }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let status = withSockaddr { address, length in
            getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
        }
        guard status == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// This address as an endpoint; `unixPath` is reported for Unix sockets.
    func endpoint(unixPath: String) -> Endpoint? {
        if family == AF_UNIX { return .unix(path: unixPath) }
        guard let host = numericHost, let port else { return nil }
        return .tcp(host: host, port: port)
    }
}
