import Synchronization
import SystemCalls

/// When the bulk lane last delivered pages: whether the background stream is
/// flowing.
///
/// Over TCP, the urgent lane polls for replies only while the stream is
/// quiet. Idle, polling halves a remote fault's round trip (the reply is
/// taken without a wake-up); while the stream keeps both vCPUs busy it does
/// the opposite. Measured on 2 vCPUs, random faults under the stream, p50
/// over three runs: TCP 109-147 us polling, 36-37 us not. Over a Unix
/// socket the same rule was slower (40-138 us against 35-84), so there the
/// lane always polls; why the two links differ is not known.
final class StreamActivity: Sendable {
    /// How long after its last pages the stream counts as quiet: many times
    /// the gap between pieces of a flowing stream (tens of microseconds).
    static let quietTime: Duration = .milliseconds(1)

    private let lastPages = Atomic<UInt64>(0)

    /// Records that the bulk lane delivered pages at `now` (monotonic
    /// nanoseconds).
    ///
    /// - Complexity: O(1): one relaxed store.
    func recordPages(at now: UInt64 = monotonicNanoseconds()) { lastPages.store(now, ordering: .relaxed) }

    /// Whether no pages have arrived on the bulk lane for `quietTime` before
    /// `now` (monotonic nanoseconds).
    func isQuiet(at now: UInt64 = monotonicNanoseconds()) -> Bool {
        let quiet = UInt64(Self.quietTime / .nanoseconds(1))
        return now &- lastPages.load(ordering: .relaxed) > quiet
    }
}
