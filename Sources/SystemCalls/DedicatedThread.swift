#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A POSIX thread of its own for blocking work: a fault loop waiting in
/// `poll(2)`, a lane receiver waiting in `recv(2)`.
///
/// Blocking calls do not belong on Swift's cooperative thread pool (they would
/// starve it), and a fault handler should not wait behind other tasks.
public final class DedicatedThread: @unchecked Sendable {
    // @unchecked: `handle` is written once by pthread_create before `init`
    // returns, and only read (by `join`) afterwards.
    private var handle = pthread_t()
    private let joined = Joined()

    /// Starts a thread running `body`; `name` identifies it in errors and,
    /// cut to 15 bytes, in process listings (`top -H`, /proc/PID/task).
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            ThreadName.setCurrent(context.name)
            context.body()
            return nil
        }, context)
        // EAGAIN (no more threads) is a resource limit, but every caller of
        // this type needs its thread to function at all; fail loudly.
        precondition(result == 0, "pthread_create(\(name)): \(String(cString: strerror(result)))")
    }

    /// Waits for the thread to finish. Idempotent.
    public func join() {
        guard joined.claim() else { return }
        let result = pthread_join(handle, nil)
        precondition(result == 0, "pthread_join: \(result)")
    }

    private final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { (self.name, self.body) = (name, body) }
    }
}

/// Set once by the first joiner, so a second `join` does not join twice.
private final class Joined: Sendable {
    private let flag = Atomic<Bool>(false)
    func claim() -> Bool { !flag.exchange(true, ordering: .acquiringAndReleasing) }
}
