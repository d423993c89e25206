#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemPackage

/// Where this module's syscall results become Swift results.
///
/// Every socket call in this module goes through `onSocket` (EINTR is retried
/// in `SystemCall`, the package's one place for it), and the errnos that can only mean a bug in this
/// library (a closed descriptor, a descriptor that is not a socket, a bad
/// pointer into our own buffers) stop the program instead of travelling as
/// errors a caller might retry.
enum Syscall {
    /// `SystemCall.retryingInterrupts`: the package's one EINTR loop.
    @inline(__always)
    static func retryingInterrupts<Value: FixedWidthInteger>(
        _ body: () -> Value
    ) -> Result<Value, Errno> {
        SystemCall.retryingInterrupts(body)
    }

    /// Like `retryingInterrupts`, for a call on a socket this module owns:
    /// preconditions that the errno is not one only a bug produces, and names
    /// `operation` in the error.
    @inline(__always)
    static func onSocket<Value: FixedWidthInteger>(
        _ operation: @autoclosure () -> String, _ body: () -> Value
    ) -> Result<Value, WireError> {
        switch retryingInterrupts(body) {
        case .success(let value):
            return .success(value)
        case .failure(let errno):
            precondition(errno != .badFileDescriptor && errno != .notSocket && errno != .badAddress,
                         "\(operation()) on a descriptor or buffer this module does not own: \(errno)")
            return .failure(.system(operation: operation(), errno: errno))
        }
    }
}

/// Thin wrappers over the socket calls used on connected sockets, each the
/// only caller of its C function in this module.
enum SocketCalls {
    /// `recv(2)` into `buffer`; returns the bytes read, 0 at end of stream.
    ///
    /// - Parameter waitAll: passes `MSG_WAITALL`, so a large read returns
    ///   once `buffer` is full rather than after each segment arrives.
    static func receive(
        _ socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, waitAll: Bool = false
    ) throws(WireError) -> Int {
        precondition(!buffer.isEmpty, "recv into an empty buffer cannot tell end of stream from no room")
        return try Syscall.onSocket("recv") {
            Glibc.recv(socket.rawValue, buffer.baseAddress, buffer.count, waitAll ? Int32(MSG_WAITALL) : 0)
        }.get()
    }

    /// `recv(2)` with `MSG_DONTWAIT`: the bytes received (0 at end of
    /// stream), or nil when none are there yet (EAGAIN).
    static func receiveIfReady(
        _ socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer
    ) throws(WireError) -> Int? {
        precondition(!buffer.isEmpty, "recv into an empty buffer cannot tell end of stream from no room")
        switch Syscall.onSocket("recv", { Glibc.recv(socket.rawValue, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }) {
        case .success(let count): return count
        case .failure(.system(_, let errno)) where errno == .resourceTemporarilyUnavailable: return nil
        case .failure(let error): throw error
        }
    }

    /// Writes all of `head` then all of `tail` with `sendmsg(2)` and
    /// `MSG_NOSIGNAL` (a closed peer is `EPIPE`, never `SIGPIPE`), one iovec
    /// per part, looping on partial writes. Neither part is copied.
    ///
    /// - Parameter more: More of the frame follows by other means
    ///   (`MSG_MORE`), so a short head need not leave alone.
    /// - Complexity: One syscall unless the kernel takes less than all of it.
    static func sendAll(
        _ socket: FileDescriptor, _ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer, more: Bool = false
    ) throws(WireError) {
        let flags = Int32(MSG_NOSIGNAL) | (more ? Int32(MSG_MORE) : 0)
        var head = head[...]
        var tail = tail[...]
        while !head.isEmpty || !tail.isEmpty {
            var vectors = (iovec(), iovec())
            let sent = withUnsafeMutableBytes(of: &vectors) { raw -> Result<Int, WireError> in
                let iov = raw.bindMemory(to: iovec.self)
                var used = 0
                if !head.isEmpty { iov[used] = vector(head); used += 1 }
                if !tail.isEmpty { iov[used] = vector(tail); used += 1 }
                var message = msghdr()
                message.msg_iov = iov.baseAddress
                message.msg_iovlen = used
                return Syscall.onSocket("sendmsg") { Glibc.sendmsg(socket.rawValue, &message, flags) }
            }
            var remaining = try sent.get()
            let fromHead = min(remaining, head.count)
            head = head.dropFirst(fromHead)
            remaining -= fromHead
            tail = tail.dropFirst(remaining)
        }
    }

    /// The iovec for a non-empty part of a caller's buffer. The kernel only
    /// reads through it (`sendmsg`), so dropping `const` is sound.
    private static func vector(_ part: Slice<UnsafeRawBufferPointer>) -> iovec {
        let bytes = UnsafeRawBufferPointer(rebasing: part)
        return iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
    }

    /// `shutdown(2)` in both directions. A socket whose peer is already gone
    /// (`ENOTCONN`) is as shut down as it will get, so that is not an error.
    static func shutdown(_ socket: FileDescriptor) {
        switch Syscall.onSocket("shutdown", { Glibc.shutdown(socket.rawValue, Int32(SHUT_RDWR)) }) {
        case .success, .failure(.system(_, .socketNotConnected)): return
        case .failure(let error): preconditionFailure("shutdown of an open socket failed: \(error)")
        }
    }

    /// `close(2)`. Not retried on EINTR: Linux releases the descriptor before
    /// it can be interrupted, and a retry could close a descriptor another
    /// thread has just been given.
    static func close(_ socket: FileDescriptor) {
        let result = Glibc.close(socket.rawValue)
        precondition(result == 0 || Errno(rawValue: Glibc.errno) != .badFileDescriptor,
                     "close of a descriptor this module does not own")
    }

    /// `setsockopt(2)` with an `Int32` value; `name` is for the error.
    static func setOption(
        _ socket: FileDescriptor, level: Int32, option: Int32, value: Int32, name: String
    ) throws(WireError) {
        var value = value
        _ = try Syscall.onSocket("setsockopt(\(name))") {
            Glibc.setsockopt(socket.rawValue, level, option, &value, socklen_t(MemoryLayout<Int32>.size))
        }.get()
    }

    /// `setsockopt(2)` of a `timeval` (`SO_RCVTIMEO`, `SO_SNDTIMEO`); nil is
    /// no timeout.
    static func setTimeout(_ socket: FileDescriptor, option: Int32, _ timeout: Duration?, name: String) throws(WireError) {
        var value = timeval()
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            value.tv_sec = Int(seconds)
            value.tv_usec = Int(attoseconds / 1_000_000_000_000)
            // A zero timeval means "no timeout": round a positive timeout up.
            if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        }
        _ = try Syscall.onSocket("setsockopt(\(name))") {
            Glibc.setsockopt(socket.rawValue, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
        }.get()
    }

    /// `getsockopt(2)` of an `Int32` value; `name` is for the error.
    static func option(
        _ socket: FileDescriptor, level: Int32, option: Int32, name: String
    ) throws(WireError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try Syscall.onSocket("getsockopt(\(name))") {
            Glibc.getsockopt(socket.rawValue, level, option, &value, &length)
        }.get()
        return value
    }

    /// `poll(2)` for `events` on one descriptor; returns false on timeout.
    ///
    /// - Parameter timeout: nil waits indefinitely; rounded up to whole
    ///   milliseconds so a short wait never becomes a busy loop.
    static func wait(
        _ socket: FileDescriptor, for events: Int16, timeout: Duration?, operation: String
    ) throws(WireError) -> Bool {
        var entry = pollfd(fd: socket.rawValue, events: events, revents: 0)
        let ready = try Syscall.onSocket(operation) { Glibc.poll(&entry, 1, timeout.map(milliseconds) ?? -1) }.get()
        return ready > 0
    }

    /// `timeout` in whole milliseconds for `poll(2)`, rounded up, clamped to
    /// what an `Int32` holds, never negative.
    static func milliseconds(_ timeout: Duration) -> Int32 {
        let (seconds, attoseconds) = timeout.components
        guard seconds >= 0, timeout > .zero else { return 0 }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let (wholeMilliseconds, remainder) = attoseconds.quotientAndRemainder(dividingBy: perMillisecond)
        let total = seconds.multipliedReportingOverflow(by: 1000)
        guard !total.overflow else { return .max }
        return Int32(clamping: total.partialValue + wholeMilliseconds + (remainder > 0 ? 1 : 0))
    }
}
