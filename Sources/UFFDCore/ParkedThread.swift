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
        /// Whether `run` was called, and its body until the thread takes it.
        let state = LockedValue<(given: Bool, body: (@Sendable () -> Void)?)>((false, nil))
        let ready = CountingSemaphore(value: 0)
    }

    /// Starts the thread; it waits for `run`. `name` identifies it in errors.
    public init(name: String) {
        let handoff = Handoff()
        self.handoff = handoff
        thread = DedicatedThread(name: name) {
            handoff.ready.wait()
            handoff.state.withLock { $0.body.take() }?()
        }
    }

    /// Runs `body` on the thread. Only the first `run` (or `join`) counts:
    /// the thread runs one body, or none.
    public func run(_ body: @escaping @Sendable () -> Void) {
        let first = handoff.state.withLock { state in
            guard !state.given else { return false }
            state = (true, body)
            return true
        }
        if first { handoff.ready.signal() }
    }

    /// Waits for the thread to finish; a thread never given a body is
    /// released first, so joining never waits for ever. Idempotent.
    public func join() {
        run {}
        thread.join()
    }
}
