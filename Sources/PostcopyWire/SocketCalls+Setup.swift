#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// Wrappers over the calls that create, bind, connect and accept sockets,
/// and the file calls a Unix socket path needs. Each is the only caller of
/// its C function in this module.
extension SocketCalls {
    /// A new stream socket of `family` (`socket(2)`, `SOCK_CLOEXEC`).
    ///
    /// - Parameter nonBlocking: Adds `SOCK_NONBLOCK`.
    static func open(family: Int32, nonBlocking: Bool, context: String) throws(WireError) -> FileDescriptor {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = try Syscall.retryingInterrupts { Glibc.socket(family, type, 0) }
            .mapError { WireError.system(operation: "socket(\(context))", errno: $0) }.get()
        return FileDescriptor(rawValue: fd)
    }

    /// A connected pair of Unix stream sockets (`socketpair(2)`, `SOCK_CLOEXEC`).
    static func pair() throws(WireError) -> (FileDescriptor, FileDescriptor) {
        var fds: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &fds) { raw in
            Syscall.onSocket("socketpair") {
                socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0,
                           raw.baseAddress!.assumingMemoryBound(to: Int32.self))
            }
        }.get()
        return (FileDescriptor(rawValue: fds.0), FileDescriptor(rawValue: fds.1))
    }

    /// `bind(2)` to `address`; `context` names it for the error.
    static func bind(_ socket: FileDescriptor, to address: SocketAddress, context: String) throws(WireError) {
        _ = try address.withSockaddr { pointer, length in
            Syscall.onSocket("bind(\(context))") { Glibc.bind(socket.rawValue, pointer, length) }
        }.get()
    }

    /// `listen(2)` with room for `backlog` pending connections.
    static func listen(_ socket: FileDescriptor, backlog: Int32, context: String) throws(WireError) {
        _ = try Syscall.onSocket("listen(\(context))") { Glibc.listen(socket.rawValue, backlog) }.get()
    }

    /// `connect(2)` to `address`. The result keeps the errno, which the
    /// caller sorts into retry, wait (`EINPROGRESS`) and fail.
    static func connect(_ socket: FileDescriptor, to address: SocketAddress) -> Result<Void, Errno> {
        address.withSockaddr { pointer, length in
            Syscall.retryingInterrupts { Glibc.connect(socket.rawValue, pointer, length) }.map { _ in () }
        }
    }

    /// `accept(2)` of one pending connection, then `FD_CLOEXEC` on it
    /// (`fcntl(2)`). The result keeps accept's errno, which the caller sorts
    /// into retry and fail.
    ///
    /// Glibc's module does not export `accept4` (it is `_GNU_SOURCE`), so
    /// close-on-exec is set just after: a `fork`+`exec` on another thread
    /// in between could leak the descriptor into that child.
    static func accept(_ socket: FileDescriptor) -> Result<FileDescriptor, Errno> {
        Syscall.retryingInterrupts { Glibc.accept(socket.rawValue, nil, nil) }.map { fd in
            let result = Glibc.fcntl(fd, F_SETFD, FD_CLOEXEC)
            precondition(result == 0, "fcntl(F_SETFD) on a descriptor accept just returned failed: \(Glibc.errno)")
            return FileDescriptor(rawValue: fd)
        }
    }

    /// Clears `O_NONBLOCK` (`fcntl(2)` `F_GETFL`, `F_SETFL`).
    static func setBlocking(_ socket: FileDescriptor) throws(WireError) {
        let flags = try Syscall.onSocket("fcntl(F_GETFL)") { Glibc.fcntl(socket.rawValue, F_GETFL) }.get()
        _ = try Syscall.onSocket("fcntl(F_SETFL)") { Glibc.fcntl(socket.rawValue, F_SETFL, flags & ~O_NONBLOCK) }.get()
    }

    /// The error of a finished non-blocking connect (`getsockopt(SO_ERROR)`),
    /// nil when it succeeded.
    static func pendingError(_ socket: FileDescriptor) throws(WireError) -> Errno? {
        let value = try option(socket, level: SOL_SOCKET, option: SO_ERROR, name: "SO_ERROR")
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// Whether `path` names a socket file (`lstat(2)`, which does not follow
    /// a symbolic link); false when nothing is there.
    static func isSocketFile(_ path: String) throws(WireError) -> Bool {
        var info = stat()
        switch Syscall.retryingInterrupts({ lstat(path, &info) }) {
        case .success: return info.st_mode & S_IFMT == S_IFSOCK
        case .failure(.noSuchFileOrDirectory): return false
        case .failure(let errno): throw .system(operation: "lstat(\(path))", errno: errno)
        }
    }

    /// `unlink(2)`; a path already gone is not an error.
    static func unlink(_ path: String) throws(WireError) {
        switch Syscall.retryingInterrupts({ Glibc.unlink(path) }) {
        case .success, .failure(.noSuchFileOrDirectory): return
        case .failure(let errno): throw .system(operation: "unlink(\(path))", errno: errno)
        }
    }

    /// Sleeps for `duration` (`nanosleep(2)`, resumed after signals).
    static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && Errno(rawValue: Glibc.errno) == .interrupted {
            request = remaining
        }
    }
}
