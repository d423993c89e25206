/// Waits between attempts at something that may start working soon (a
/// source not listening yet, a link being restored), doubling the wait from
/// `initial` up to `maximum` and never sleeping past a deadline.
public struct Backoff: Sendable {
    private var next: Duration
    private let maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        precondition(initial > .zero && maximum >= initial, "backoff \(initial)...\(maximum)")
        next = initial
        self.maximum = maximum
    }

    /// Sleeps for the current wait, or until `deadline` if that comes first
    /// (`nanosleep(2)`); returns false, without sleeping, once it has passed.
    public mutating func wait(before deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - .now
        guard remaining > .zero else { return false }
        SocketCalls.sleep(for: min(next, remaining))
        next = min(next * 2, maximum)
        return true
    }
}
