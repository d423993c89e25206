import SystemCalls

/// A dedicated thread started ahead of its work: it waits (`sem_wait`) until
/// `run` hands it a body.
///
/// Starting a thread costs tens of microseconds here (`clone3`, an 8 MiB stack
/// mapping, the new thread's first scheduling); where that would land inside
/// a latency-critical step, such as a destination's switchover, the thread is
/// started before the step and only woken in it.
public final class ParkedThread: Sendable {
    private let handoff: Handoff
    private let thread: DedicatedThread

    private final class Handoff: Sendable {
        let body = LockedValue<(@Sendable () -> Void)?>(nil)
        let given = LockedValue(false)
        let ready = CountingSemaphore(value: 0)
    }

    /// Starts the thread; it waits for `run`. `name` identifies it in errors.
    public init(name: String) {
        let handoff = Handoff()
        self.handoff = handoff
        thread = DedicatedThread(name: name) {
            handoff.ready.wait()
            handoff.body.withLock { $0.take() }?()
        }
    }

    /// Runs `body` on the thread. Only the first `run` (or `join`) counts:
    /// the thread runs one body, or none.
    public func run(_ body: @escaping @Sendable () -> Void) {
        guard handoff.given.withLock({ given in defer { given = true }; return !given }) else { return }
        handoff.body.withLock { $0 = body }
        handoff.ready.signal()
    }

    /// Waits for the thread to finish; a thread never given a body is
    /// released first, so joining never waits for ever. Idempotent.
    public func join() {
        run {}
        thread.join()
    }
}
