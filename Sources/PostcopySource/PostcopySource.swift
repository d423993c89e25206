#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire
import SystemCalls
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
        /// Stream the pages nobody requested in the background. Off, only
        /// requested pages travel (and skipped runs, as ZERO frames or the
        /// bitmap): the migration ends only once the destination has touched
        /// every page that must travel. For measuring remote faults alone
        /// (`postcopy bench-faults`), not for migrating.
        public var backgroundStream = true
        /// How long to wait for each of the destination's lanes to connect.
        public var acceptTimeout: Duration = .seconds(120)
        /// After a lane is lost mid-migration, how long to wait for the
        /// destination to reconnect and resume; nil gives up at once.
        public var recoveryDeadline: Duration? = .seconds(60)
        /// How long a reconnecting destination may take over each step of
        /// the handshake before its connection is dropped.
        public var handshakeTimeout: Duration = .seconds(10)
        /// Kernel buffers (`SO_SNDBUF`, `SO_RCVBUF`) of the bulk lane. What
        /// they hold is in flight, and a thread faulting on such a page waits
        /// for it: small on a fast local link, about the bandwidth-delay
        /// product on a long one (see `FramedSocket.bulkBufferSize`).
        public var bulkBufferSize = FramedSocket.bulkBufferSize
        /// CPUs the background stream's thread is confined to; nil: any.
        /// Confined, it leaves the other CPUs to the threads that answer
        /// requests and to the application, whose wake-ups then find a CPU
        /// free: faults wait less, the stream moves slower. Measured on 2
        /// vCPUs (both sides' stream threads on CPU 1, bench/RESULTS.md):
        /// random remote faults under the stream 1.1-1.3x the floor, not
        /// 1.3-6.8x; a 2 GiB migration 1.3-2.8x slower.
        public var streamCPUs: CPUSet?
        /// When the background stream hands its pages to the bulk lane by
        /// reference (`FramedSocket.splicePageData`) instead of copying
        /// them. Measured on 2 vCPUs, 2 GiB at 50% free (bench/RESULTS.md):
        /// over a Unix socket the streamer's CPU fell from 0.30 to 0.11 s per
        /// GiB; over TCP loopback it saved nothing and cost the receiver
        /// more (0.31 -> 0.44 s), so by default only Unix sockets splice.
        public var spliceStream = SpliceStream.overUnixSockets
        public init() {}
    }

    /// Where the background stream splices its pages (see `spliceStream`).
    public enum SpliceStream: Sendable {
        /// Always copy (`sendmsg`).
        case never
        /// Splice over Unix sockets, copy over TCP.
        case overUnixSockets
        /// Splice over either.
        case always
    }

    public let region: SourceRegion
    public let plan: SkipPlan
    public let configuration: Configuration
    /// Seconds spent classifying pages in `init`.
    public let scanSeconds: Double
    let counters = SourceCounters()

    /// Prepares to serve `region`: classifies its pages (which may read all
    /// of it, see `SkipPlan`). `free` are byte ranges the caller declares free.
    ///
    /// - Throws: `SourceError.badBatchSize`; a `CPUSet` error. (A region the
    ///   protocol cannot name was refused when the `SourceRegion` was made.)
    public init(region: SourceRegion, free: [Range<Int>] = [], configuration: Configuration = .init()) throws {
        let maxBatch = FrameLimits().maxPagesPerFrame(pageSize: SystemPage.size)
        guard (1...maxBatch).contains(configuration.streamBatchPages) else {
            throw SourceError.badBatchSize(configuration.streamBatchPages, maximum: maxBatch)
        }
        try configuration.streamCPUs?.checkAvailable()
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
            try? urgent.send(.error(reporting: error))
            throw error
        }
    }

    /// The destination's two connections of one generation.
    private struct Lanes {
        let urgent: FramedSocket
        let bulk: FramedSocket
    }

    /// How one generation of connections ended.
    private enum LanesEnd {
        /// COMPLETE arrived and was acknowledged.
        case completed
        /// A lane was lost (`WireError.isConnectionLoss`) before COMPLETE.
        case lost(WireError)
    }

    private func serve(urgent: FramedSocket, listener: Listener, session: UInt64, clock: ContinuousClock) throws -> SourceReport {
        let started = clock.now
        let geometry = region.geometry
        urgent.geometry = geometry
        try urgent.send(.hello(Hello(geometry: geometry, features: Self.features, session: session)))
        let bulk = try accept(listener, lane: .bulk, session: session)
        bulk.geometry = geometry
        let ready = try receive(urgent, before: "READY")
        guard case .ready = ready else { throw SourceError.unexpectedFrame(state: "before READY", frame: "\(ready)") }
        let running = clock.now

        // The destination is running: only now does the bitmap travel, so it
        // adds nothing to the switchover.
        var lanes = Lanes(urgent: urgent, bulk: bulk)
        var destinationHasSkipBitmap = false
        var stream = PageStream(region: region, plan: plan, batchPages: configuration.streamBatchPages,
                                counters: counters, announceSkipped: !configuration.sendSkipBitmap,
                                streamsPages: configuration.backgroundStream)
        while true {
            if configuration.sendSkipBitmap && !destinationHasSkipBitmap {
                let encoded = RunLengthCodec.encode(plan.skip)
                do {
                    try lanes.urgent.send(.bitmap(kind: Wire.skipBitmapKind, encoded: encoded))
                } catch {
                    guard error.isConnectionLoss else { throw error }
                    // Lost with the lanes: serveLanes sees the same and pauses.
                }
                counters.bitmapBytes.add(encoded.count, ordering: .relaxed)
            }
            switch try serveLanes(lanes, stream: stream) {
            case .completed:
                let finished = clock.now
                return SourceReport(plan: plan, counters: counters, scanSeconds: scanSeconds,
                                    switchoverSeconds: seconds(running - started), totalSeconds: seconds(finished - started))
            case .lost(let cause):
                // Paused: the destination's threads wait on their pages and
                // nothing is lost; carry on over new connections, if it comes back.
                guard let deadline = configuration.recoveryDeadline else {
                    throw SourceError.connectionLost(before: "COMPLETE", underlying: "\(cause)")
                }
                let pauseStart = clock.now
                let (next, hasSkipBitmap, held) = try reconnection(on: listener, session: session, geometry: geometry,
                                                                   deadline: deadline, cause: cause)
                // What was sent but is not held was lost in flight: it travels again.
                let lost = stream.neededPagesSent.subtracting(held).count
                counters.pagesResent.add(lost, ordering: .relaxed)
                counters.reconnections.add(1, ordering: .relaxed)
                counters.pausedNanoseconds.add(Int((clock.now - pauseStart) / .nanoseconds(1)), ordering: .relaxed)
                stream = PageStream(region: region, plan: plan, batchPages: configuration.streamBatchPages,
                                    counters: counters, announceSkipped: !configuration.sendSkipBitmap,
                                    streamsPages: configuration.backgroundStream,
                                    held: held, discarded: stream.discardedPages)
                lanes = next
                destinationHasSkipBitmap = hasSkipBitmap
            }
        }
    }

    /// Stream bytes after a requested page below which it is sent again as a
    /// reply: about what an urgent round trip is worth at this machine's
    /// placement rate (see `RecentFrames`).
    static let resendWindow = 256 << 10

    /// The features this source offers in HELLO.
    private static let features: Features = [.skipBitmap, .zeroReplies]

    /// Serves one generation of lanes: streams on the bulk lane, answers the
    /// urgent lane, until COMPLETE or until either lane is lost. Both lanes are
    /// shut and the streamer stopped when it returns.
    ///
    /// - Throws: Anything but a lost connection: a frame that breaks the
    ///   protocol, a premature COMPLETE, the destination's ERROR.
    private func serveLanes(_ lanes: Lanes, stream: PageStream) throws -> LanesEnd {
        let (urgent, bulk) = (lanes.urgent, lanes.bulk)
        // Splicing is safe here: the region does not change while it is
        // served (`SourceRegion`'s contract), so the pages are what they were
        // when the peer reads them.
        switch configuration.spliceStream {
        case .always: try bulk.splicePageData()
        case .overUnixSockets where !bulk.isTCP: try bulk.splicePageData()
        case .overUnixSockets, .never: break
        }
        let streamFailure = StreamFailure()
        let streamCPUs = configuration.streamCPUs
        let streamer = DedicatedThread(name: "bulk stream") {
            do {
                try streamCPUs?.confineCurrentThread()
                try stream.run(on: bulk)
            } catch where !stream.isStopped {
                streamFailure.error.withLock { $0 = error }
                // The serve loop waits on the urgent lane. A destination that
                // broke the bulk lane also closes that one, often after an
                // ERROR saying why, which the loop should read: cut it only
                // if it has not ended within a grace period.
                let graceEnd = ContinuousClock.now + .seconds(1)
                var tick = Backoff(initial: .milliseconds(10), maximum: .milliseconds(10))
                while !stream.isStopped && tick.wait(before: graceEnd) {}
                if !stream.isStopped { urgent.shutdown() }
            } catch {
                // Stopped: the lanes are over and were shut under it.
            }
        }
        defer {
            stream.stop()
            bulk.shutdown()
            urgent.shutdown()
            streamer.join()
        }

        do {
            while true {
                let frame: Frame
                do {
                    frame = try urgent.receive()
                    switch frame {
                    case .request(let offsets):
                        try answer(offsets, on: urgent, stream: stream)
                        continue
                    default:
                        break
                    }
                } catch {
                    // The destination's ERROR, or a frame that broke the rules.
                    guard let loss = error as? WireError, loss.isConnectionLoss else { throw error }
                    // The streamer's failure, if any, is why the urgent lane was cut.
                    let cause: any Error = streamFailure.error.withLock { $0 } ?? loss
                    guard let wire = cause as? WireError, wire.isConnectionLoss else { throw cause }
                    return .lost(wire)
                }
                switch frame {
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
                    // The destination holds everything: an acknowledgement lost
                    // with the connection costs it nothing.
                    try? urgent.send(.done)
                    return .completed
                case .error(let code, let reason):
                    throw WireError.remote(code: code, reason: reason)
                default:
                    throw SourceError.unexpectedFrame(state: "while serving", frame: "\(frame)")
                }
            }
        } catch {
            // Tell the destination why, where this lane still carries it.
            try? urgent.send(.error(reporting: error))
            throw error
        }
    }

    /// Waits until `deadline` for the destination of `session` to reconnect:
    /// JOIN(urgent), HELLO, JOIN(bulk), RESUME. A connection that fails its
    /// part of the handshake (cut, silent for `handshakeTimeout`, another
    /// session) is dropped and the wait goes on: the destination retries.
    ///
    /// - Returns: The new lanes, whether the destination has the skip bitmap,
    ///   and the pages it holds.
    /// - Throws: `SourceError.recoveryTimedOut` when the deadline passes; a
    ///   protocol violation in RESUME.
    private func reconnection(on listener: Listener, session: UInt64, geometry: Geometry, deadline: Duration,
                              cause: WireError) throws -> (Lanes, hasSkipBitmap: Bool, held: PageBitmap) {
        let clock = ContinuousClock()
        let end = clock.now + deadline
        var urgent: FramedSocket?
        while true {
            let remaining = end - clock.now
            guard remaining > .zero, let socket = try listener.accept(timeout: remaining) else {
                throw SourceError.recoveryTimedOut(seconds: seconds(deadline), cause: "\(cause)")
            }
            do {
                try socket.setReceiveTimeout(configuration.handshakeTimeout)
                guard case .join(let join) = try socket.receive() else { continue }
                guard join.session == session else {
                    try? socket.send(.error(code: WireErrorCode.busy.rawValue,
                                            reason: "this source is paused in another migration (session \(session))"))
                    continue
                }
                socket.geometry = geometry
                try socket.configure(for: join.lane, bulkBufferSize: configuration.bulkBufferSize)
                switch join.lane {
                case .urgent:
                    try socket.send(.hello(Hello(geometry: geometry, features: Self.features, session: session)))
                    urgent = socket
                case .bulk:
                    guard let lane = urgent else { continue }
                    urgent = nil
                    let frame = try lane.receive()
                    guard case .resume(let hasSkipBitmap, let encoded) = frame else {
                        throw SourceError.unexpectedFrame(state: "instead of RESUME", frame: "\(frame)")
                    }
                    let held = try RunLengthCodec.decode(encoded, expectedPageCount: region.pageCount)
                    try lane.setReceiveTimeout(nil)
                    return (Lanes(urgent: lane, bulk: socket), hasSkipBitmap, held)
                }
            } catch {
                // Cut or silent during the handshake: wait for the next attempt.
                guard let wire = error as? WireError, wire.isConnectionLoss else { throw error }
            }
        }
    }

    /// Replies to a request: a page the destination need not fetch gets a
    /// ZERO reply (the destination may not have the bitmap yet); any other
    /// page not sent yet is sent on the urgent lane at once.
    private func answer(_ offsets: [Int], on urgent: FramedSocket, stream: PageStream) throws {
        let pageSize = SystemPage.size
        counters.requestsReceived.add(1, ordering: .relaxed)
        for offset in offsets {
            let page = offset / pageSize
            if plan.skip.contains(page) {
                try urgent.send(.zero(offset: offset, count: 1))
                counters.zeroReplies.add(1, ordering: .relaxed)
            } else if stream.claimForReply(page) {
                try urgent.sendPages(offset: offset, count: 1, isReply: true, data: region.pages(page, count: 1))
                counters.pagesRequested.add(1, ordering: .relaxed)
            } else if stream.streamedWithin(Self.resendWindow, page) {
                // Streamed so recently that the faulting thread would wait
                // for the whole queue ahead of it: a copy on the urgent lane
                // is faster (and counted as a duplicate).
                try urgent.sendPages(offset: offset, count: 1, isReply: true, data: region.pages(page, count: 1))
                counters.pagesRequested.add(1, ordering: .relaxed)
                counters.duplicatePages.add(1, ordering: .relaxed)
            } else {
                // Streamed before the request crossed it, and far enough
                // ahead in flight to arrive on the bulk lane first: no copy.
                counters.requestsForPagesSent.add(1, ordering: .relaxed)
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
        try socket.configure(for: lane, bulkBufferSize: configuration.bulkBufferSize)
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
    let error = LockedValue<(any Error)?>(nil)
}
