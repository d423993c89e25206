import Histogram
import Synchronization
import SystemCalls

/// Counters and latency histograms of a destination, updated by its threads.
final class DestinationStatistics: Sendable {
    let faultsZeroLocal = Atomic<Int>(0)
    let faultsRemote = Atomic<Int>(0)
    let faultsAlreadyHeld = Atomic<Int>(0)
    let pagesZeroMappedEagerly = Atomic<Int>(0)
    let pagesZeroedLocally = Atomic<Int>(0)
    let pagesRequested = Atomic<Int>(0)
    let requestFrames = Atomic<Int>(0)
    let pagesReceivedAsReply = Atomic<Int>(0)
    let pagesStreamed = Atomic<Int>(0)
    let piecesAtFront = Atomic<Int>(0)
    let zeroReplies = Atomic<Int>(0)
    let duplicatePages = Atomic<Int>(0)
    let bytesReceived = Atomic<Int>(0)
    let pagesDropped = Atomic<Int>(0)
    let reconnections = Atomic<Int>(0)
    let pausedNanoseconds = Atomic<Int>(0)

    /// Nanoseconds from reading a fault to resolving it, by class.
    let localZeroLatency = LockedValue(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
    let remoteLatency = LockedValue(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
    /// When each outstanding request was made (page -> ns), to time its answer.
    let outstanding = LockedValue<[Int: UInt64]>([:])
}

/// Latency percentiles of one class of fault, in microseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var max: Double

    init(_ histogram: Histogram<UInt64>) {
        count = Int(histogram.totalCount)
        p50 = count == 0 ? 0 : Double(histogram.valueAtPercentile(50)) / 1000
        p99 = count == 0 ? 0 : Double(histogram.valueAtPercentile(99)) / 1000
        max = count == 0 ? 0 : Double(histogram.max) / 1000
    }
}

/// What a destination did, by class of page and of fault.
public struct DestinationReport: Sendable, Codable, Equatable {
    public var pageCount: Int
    public var pageSize: Int
    /// Skipped pages zero-mapped in runs as soon as the bitmap arrived.
    public var pagesZeroMappedEagerly: Int
    /// Skipped pages zero-mapped one by one on a fault.
    public var pagesZeroedOnFault: Int
    public var pagesRequested: Int
    public var requestFrames: Int
    public var pagesReceivedAsReply: Int
    public var pagesStreamed: Int
    /// Pieces of streamed frames cut small because threads waited at the
    /// stream's front (`Configuration.frontPiecePages`).
    public var piecesAtFront: Int
    /// ZERO replies: skipped pages requested before the bitmap arrived.
    public var zeroReplies: Int
    /// Pages that arrived after another path had placed them (EEXIST).
    public var duplicatePages: Int
    /// Pages the application dropped (MADV_DONTNEED) or unmapped while they
    /// were still arriving: not requested, not filled with the source's data.
    public var pagesDropped: Int
    /// Page data received.
    public var bytesReceived: Int
    /// Everything read from and written to both lanes' sockets: headers,
    /// fields, bitmap, requests and page data.
    public var wireBytesReceived: Int
    public var wireBytesSent: Int
    /// Faults resolved locally (the page was skipped), remotely (requested),
    /// and faults on pages placed meanwhile.
    public var faultsZeroLocal: Int
    public var faultsRemote: Int
    public var faultsAlreadyHeld: Int
    /// Times a lost lane paused the migration and a reconnection resumed it.
    public var reconnections: Int
    /// Time spent paused, from each loss to its reconnection.
    public var pausedSeconds: Double
    public var localZeroLatencyMicroseconds: LatencySummary
    public var remoteLatencyMicroseconds: LatencySummary
    /// Connecting to READY sent: how long the destination could not run.
    public var switchoverSeconds: Double
    /// Connecting to COMPLETE sent.
    public var totalSeconds: Double
}
