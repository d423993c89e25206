#if canImport(Glibc)
import Glibc
#endif
import CUserfaultfd
import SystemPackage

/// A flag that wakes threads waiting in `Userfaultfd.waitForEvents`.
///
/// An eventfd, so it can sit in the same `poll(2)` as the userfaultfd. Once
/// signalled it stays signalled: every waiter, now or later, returns `.stopped`.
public final class StopSignal: Sendable {
    let descriptor: FileDescriptor

    /// A new, unsignalled flag (`eventfd(2)`).
    public init() throws(UFFDError) {
        switch Syscall.retryingInterrupts({ eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }) {
        case .success(let fd): descriptor = FileDescriptor(rawValue: fd)
        case .failure(let errno): throw UFFDError(.eventfd, .system(errno))
        }
    }

    deinit { try? descriptor.close() }

    /// Wakes every waiter; idempotent.
    public func signal() {
        var one: UInt64 = 1
        // EAGAIN means the counter is saturated: already signalled, nothing to do.
        _ = Syscall.retryingInterrupts { write(descriptor.rawValue, &one, MemoryLayout<UInt64>.size) }
    }

    /// Whether `signal` has been called.
    public var isSignalled: Bool {
        var entry = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        guard case .success(let ready) = Syscall.retryingInterrupts({ poll(&entry, 1, 0) }) else { return false }
        return ready > 0
    }
}

/// Why `waitForEvents` returned.
public enum WaitResult: Sendable, Hashable {
    /// Events can be read without blocking.
    case readable
    /// The stop signal was raised.
    case stopped
    /// The timeout passed first.
    case timedOut
}

extension Userfaultfd {
    /// Waits until events are pending, `stop` is signalled, or `timeout`
    /// passes (`poll(2)` on the userfaultfd and the stop signal).
    ///
    /// - Parameter timeout: nil waits indefinitely.
    public func waitForEvents(stop: StopSignal? = nil, timeout: Duration? = nil) throws(UFFDError) -> WaitResult {
        var entries = (pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: stop?.descriptor.rawValue ?? -1, events: Int16(POLLIN), revents: 0))
        let milliseconds: Int32 = timeout.map { Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        let ready = try withUnsafeMutableBytes(of: &entries) { raw throws(UFFDError) -> Int32 in
            let fds = raw.bindMemory(to: pollfd.self)
            return try Syscall.onUserfaultfd(.poll) { poll(fds.baseAddress!, 2, milliseconds) }.get()
        }
        if ready == 0 { return .timedOut }
        if entries.1.revents != 0 { return .stopped }
        // POLLERR/POLLHUP on the userfaultfd also count: the next read reports why.
        return .readable
    }
}
