import Synchronization
import SystemCalls

/// What the background stream is doing, as the bulk lane sees it: when it
/// last delivered pages, and when it last delivered a page a thread had
/// faulted on (a thread waiting at the stream's front).
///
/// Over TCP, the urgent lane polls for replies only while the stream is
/// quiet. Idle, polling halves a remote fault's round trip (the reply is
/// taken without a wake-up); while the stream keeps both vCPUs busy it does
/// the opposite. Measured on 2 vCPUs, random faults under the stream, p50
/// over three runs: TCP 109-147 us polling, 36-37 us not. Over a Unix
/// socket the same rule was slower (40-138 us against 35-84), so there the
/// lane always polls; why the two links differ is not known.
///
/// While threads wait at the front, the bulk lane places smaller pieces
/// (`PostcopyDestination.Configuration.frontPiecePages`): a thread reading
/// the region in order, right behind the stream, waits for each piece.
final class StreamActivity: Sendable {
    /// How long after its last pages the stream counts as quiet: many times
    /// the gap between pieces of a flowing stream (tens of microseconds).
    static let quietTime: Duration = .milliseconds(1)
    /// How long after a piece held a page a thread had faulted on threads
    /// count as waiting at the front: many pieces' time, so that a thread
    /// reading in order keeps the small pieces while it rides the stream.
    static let frontTime: Duration = .milliseconds(1)

    private let lastPages = Atomic<UInt64>(0)
    private let lastFaultAtFront = Atomic<UInt64>(0)

    /// Records that the bulk lane delivered pages at `now` (monotonic
    /// nanoseconds).
    ///
    /// - Complexity: O(1): one relaxed store.
    func recordPages(at now: UInt64 = monotonicNanoseconds()) { lastPages.store(now, ordering: .relaxed) }

    /// Whether no pages have arrived on the bulk lane for `quietTime` before
    /// `now` (monotonic nanoseconds).
    func isQuiet(at now: UInt64 = monotonicNanoseconds()) -> Bool {
        let last = lastPages.load(ordering: .relaxed)
        // Pages recorded after `now` was read: flowing, not a wrapped gap.
        return now >= last && now - last > Self.nanoseconds(Self.quietTime)
    }

    /// Records that the bulk lane delivered, at `now`, a page a thread had
    /// faulted on before it arrived.
    ///
    /// - Complexity: O(1): one relaxed store.
    func recordFaultAtFront(at now: UInt64 = monotonicNanoseconds()) {
        lastFaultAtFront.store(now, ordering: .relaxed)
    }

    /// Whether such a page arrived within `frontTime` before `now`.
    func isFaultedAtFront(at now: UInt64 = monotonicNanoseconds()) -> Bool {
        let last = lastFaultAtFront.load(ordering: .relaxed)
        return last != 0 && now &- last <= Self.nanoseconds(Self.frontTime)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 { UInt64(duration / .nanoseconds(1)) }
}
