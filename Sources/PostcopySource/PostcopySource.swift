#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire
import Synchronization
import UFFDCore

/// Serves one region to one destination: answers its page requests first,
/// streams the remaining pages in the background, and returns only when the
/// destination has confirmed it holds every page.
///
/// ```
/// let source = try PostcopySource(region: SourceRegion(memory: base, length: length), free: ranges)
/// let report = try source.serve(on: Listener(endpoint: .tcp(host: "0.0.0.0", port: 4444)))
/// ```
public final class PostcopySource: Sendable {
    /// Knobs of a migration.
    public struct Configuration: Sendable {
        /// Skip free, never-populated and zero pages (else every page travels).
        public var skipPages = true
        /// Read populated pages to find all-zero ones.
        public var scanZeroPages = true
        /// Send the skip bitmap once the destination runs. Without it the
        /// destination requests every page it touches and the source answers
        /// skipped ones with ZERO replies (option (b) of the 2016 thread): no
        /// extra data up front, a round trip per touched free page.
        public var sendSkipBitmap = true
        /// Pages per background PAGES frame.
        public var streamBatchPages = 64
        /// How long to wait for each of the destination's lanes to connect.
        public var acceptTimeout: Duration = .seconds(120)
        public init() {}
    }

    public let region: SourceRegion
    public let plan: SkipPlan
    public let configuration: Configuration
    /// Seconds spent classifying pages in `init`.
    public let scanSeconds: Double
    let counters = SourceCounters()

    /// Prepares to serve `region`: classifies its pages (which may read all
    /// of it, see `SkipPlan`). `free` are byte ranges the caller declares free.
    public init(region: SourceRegion, free: [Range<Int>] = [], configuration: Configuration = .init()) throws {
        let maxBatch = (FrameLimits().maxBodyLength - 16) / SystemPage.size
        guard (1...maxBatch).contains(configuration.streamBatchPages) else {
            throw SourceError.badBatchSize(configuration.streamBatchPages, maximum: maxBatch)
        }
        self.region = region
        self.configuration = configuration
        let clock = ContinuousClock()
        let start = clock.now
        if configuration.skipPages {
            plan = SkipPlan(base: region.base, pageCount: region.pageCount,
                            free: try FreeRanges.bitmap(free, regionLength: region.length),
                            populated: region.populated, scanZero: configuration.scanZeroPages)
        } else {
            plan = SkipPlan(sendingEverything: region.pageCount)
        }
        scanSeconds = seconds(clock.now - start)
    }

    /// Pages sent so far and pages to send, for a progress display.
    public var progress: (sent: Int, total: Int) {
        (counters.pagesSent.load(ordering: .relaxed), plan.dataPages)
    }

    /// Accepts the destination's two lanes on `listener` and serves the
    /// region until the destination reports completion.
    ///
    /// - Throws: `SourceError` or `WireError` when the destination misbehaves
    ///   or a connection is lost before completion. The destination is sent an
    ///   ERROR frame naming the reason where the urgent lane still works.
    public func serve(on listener: Listener) throws -> SourceReport {
        let clock = ContinuousClock()
        let urgent = try accept(listener, lane: .urgent, session: 0)
        let session = UInt64.random(in: 1...UInt64.max)
        do {
            return try serve(urgent: urgent, listener: listener, session: session, clock: clock)
        } catch {
            try? urgent.send(.error(code: WireErrorCode.protocolViolation.rawValue, reason: "\(error)".prefix(1024).description))
            throw error
        }
    }

    private func serve(urgent: FramedSocket, listener: Listener, session: UInt64, clock: ContinuousClock) throws -> SourceReport {
        let started = clock.now
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: region.pageCount)
        urgent.geometry = geometry
        try urgent.send(.hello(Hello(geometry: geometry, features: [.skipBitmap, .zeroReplies], session: session)))
        let bulk = try accept(listener, lane: .bulk, session: session)
        bulk.geometry = geometry
        let ready = try receive(urgent, before: "READY")
        guard case .ready = ready else { throw SourceError.unexpectedFrame(state: "before READY", frame: "\(ready)") }
        let running = clock.now

        // The destination is running: only now does the bitmap travel, so it
        // adds nothing to the switchover.
        if configuration.sendSkipBitmap {
            let encoded = RunLengthCodec.encode(plan.skip)
            try urgent.send(.bitmap(kind: Wire.skipBitmapKind, encoded: encoded))
            counters.bitmapBytes.store(encoded.count, ordering: .relaxed)
        }

        let stream = PageStream(region: region, plan: plan, batchPages: configuration.streamBatchPages, counters: counters,
                                announceSkipped: !configuration.sendSkipBitmap)
        let streamFailure = StreamFailure()
        let streamer = DedicatedThread(name: "bulk stream") {
            do {
                try stream.run(on: bulk)
            } catch where !stream.isStopped {
                // The serve loop waits on the urgent lane: cut it so it sees this.
                streamFailure.error.withLock { $0 = error }
                urgent.shutdown()
            } catch {
                // Stopped: the migration is over and the lane was shut under it.
            }
        }
        defer {
            stream.stop()
            bulk.shutdown()
            streamer.join()
        }

        while true {
            let frame: Frame
            do {
                frame = try receive(urgent, before: "COMPLETE")
            } catch {
                throw streamFailure.error.withLock { $0 } ?? error
            }
            switch frame {
            case .request(let offsets):
                try answer(offsets, on: urgent, stream: stream)
            case .discard(let offset, let count):
                let first = offset / SystemPage.size
                stream.discard(first..<(first + count))
            case .complete(let pagesHeld):
                guard pagesHeld == region.pageCount else {
                    throw SourceError.completeCountMismatch(claimed: pagesHeld, pageCount: region.pageCount)
                }
                let unsent = stream.pagesNeverSent()
                guard unsent == 0 else { throw SourceError.completeTooEarly(pagesNotSent: unsent) }
                // Nothing is left to send: end the stream (cutting a frame of
                // pages the destination already holds) so the counters are final.
                stream.stop()
                bulk.shutdown()
                streamer.join()
                try urgent.send(.done)
                let finished = clock.now
                return SourceReport(plan: plan, counters: counters, scanSeconds: scanSeconds, switchoverSeconds: seconds(running - started),
                                    totalSeconds: seconds(finished - started))
            case .error(let code, let reason):
                throw WireError.remote(code: code, reason: reason)
            default:
                throw SourceError.unexpectedFrame(state: "while serving", frame: "\(frame)")
            }
        }
    }

    /// Replies to a request: a page the destination need not fetch gets a
    /// ZERO reply (the destination may not have the bitmap yet); any other
    /// page is sent on the urgent lane at once.
    private func answer(_ offsets: [Int], on urgent: FramedSocket, stream: PageStream) throws {
        let pageSize = SystemPage.size
        counters.requestsReceived.add(1, ordering: .relaxed)
        for offset in offsets {
            let page = offset / pageSize
            if plan.skip.contains(page) {
                try urgent.send(.zero(offset: offset, count: 1))
                counters.zeroReplies.add(1, ordering: .relaxed)
            } else {
                stream.markSent(page, byRequest: true)
                try urgent.sendPages(offset: offset, count: 1, isReply: true, data: region.pages(page, count: 1))
                counters.pagesRequested.add(1, ordering: .relaxed)
            }
        }
        // Locality: the background stream continues just after what was asked for.
        if let last = offsets.last { stream.continue(after: last / pageSize) }
    }

    private func accept(_ listener: Listener, lane: Lane, session: UInt64) throws -> FramedSocket {
        guard let socket = try listener.accept(timeout: configuration.acceptTimeout) else {
            throw SourceError.acceptTimedOut(lane: "\(lane)")
        }
        let frame = try socket.receive()
        guard case .join(let join) = frame else {
            throw SourceError.unexpectedFrame(state: "instead of JOIN", frame: "\(frame)")
        }
        guard join.lane == lane else { throw SourceError.unexpectedLane(expected: "\(lane)", got: "\(join.lane)") }
        guard join.session == session else { throw SourceError.sessionMismatch(expected: session, got: join.session) }
        try socket.configure(for: lane)
        return socket
    }

    private func receive(_ socket: FramedSocket, before: String) throws -> Frame {
        do {
            return try socket.receive()
        } catch .connectionClosed {
            throw SourceError.connectionLost(before: before, underlying: "the destination closed the connection")
        } catch .system(let operation, let errno) {
            throw SourceError.connectionLost(before: before, underlying: "\(operation): \(errno)")
        }
    }
}

@inline(__always)
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The bulk streamer's failure, for the serve loop to report.
private final class StreamFailure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}
