#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire
import Synchronization
import SystemCalls
import UFFDCore

/// The receiving side of a migration: owns the region and its userfaultfd,
/// and is running (the region usable) as soon as `connect` returns.
///
/// Until the migration ends, a child made by `fork()` does not inherit the
/// region (`MADV_DONTFORK`: touching it there is SIGSEGV), since it could not
/// receive the pages still missing; afterwards it inherits it as usual.
///
/// ```
/// let destination = try PostcopyDestination.connect(to: .tcp(host: "src", port: 4444))
/// run(destination.region)                 // faults fetch pages on demand
/// let report = try destination.waitForCompletion()
/// ```
public final class PostcopyDestination: Sendable {
    /// Where the region lives.
    public enum Memory: Sendable {
        /// A private anonymous mapping the destination makes and owns.
        case anonymous
        /// Memory the caller owns: private anonymous, page-aligned and exactly
        /// the source's length. Its current contents are discarded
        /// (`madvise(MADV_DONTNEED)`) before it is registered, so nothing may
        /// touch it until `connect` returns.
        case provided(MemoryRange)
    }

    /// Knobs of a migration.
    public struct Configuration: Sendable {
        /// How long to keep trying to reach the source.
        public var connectTimeout: Duration = .seconds(60)
        /// Zero-map every skipped run as soon as the bitmap arrives, so those
        /// pages never fault.
        public var eagerZeroMap = true
        /// When the migration fails, poison the pages that never arrived
        /// (`UFFDIO_POISON`): a thread touching one gets SIGBUS instead of
        /// waiting forever. Off, such threads stay blocked (the region stays
        /// registered), which only suits a caller that will exit anyway.
        public var poisonMissingPagesOnFailure = true
        /// When a lane is lost mid-migration, how long to keep trying to
        /// reconnect and resume (faulting threads wait meanwhile); nil fails
        /// the migration at once.
        public var recoveryDeadline: Duration? = .seconds(60)
        /// How long each step of a reconnection's handshake may take.
        public var handshakeTimeout: Duration = .seconds(10)
        /// Threads placing streamed pages while the bulk lane receives more;
        /// 0 places them on the receiving thread, in series with receiving.
        public var placingThreads = 2
        /// How long the urgent lane's receiver polls for the next frame
        /// before it sleeps: replies follow one another while threads fault,
        /// and a wake-up costs tens of microseconds on a VM. Measured on 2
        /// vCPUs: an idle remote fault 75 -> 38 us at p50 with 100-200 us of
        /// polling. Over TCP it polls only while the bulk lane is quiet
        /// (`StreamActivity`). `.zero` never polls.
        public var urgentPollTime: Duration = .microseconds(100)
        /// Kernel buffers (`SO_SNDBUF`, `SO_RCVBUF`) of the bulk lane. What
        /// they hold is in flight, and a thread faulting on such a page waits
        /// for it: small on a fast local link, about the bandwidth-delay
        /// product on a long one (see `FramedSocket.bulkBufferSize`).
        public var bulkBufferSize = FramedSocket.bulkBufferSize
        /// The bulk lane places a frame's pages in pieces of at most this
        /// many, each as soon as it has arrived, so that a thread faulting
        /// on a page of a frame still arriving waits for its piece, not the
        /// whole frame (`FramedSocket.receivePagesInPieces`); 0 (or less)
        /// places whole frames. The wire is the same either way. Measured on
        /// 2 vCPUs: 16 halved the under-stream p50 of sequential faults
        /// (108-147 -> 53-61 us); 8 and 4 cut it further but slowed a 2 GiB
        /// migration 1.4x and 1.8x.
        public var bulkPiecePages = 16
        /// The bulk lane's pieces while threads wait at the stream's front:
        /// for 1 ms after a piece held a page some thread had faulted on
        /// before it arrived (`StreamActivity`). A thread reading the region
        /// in order right behind the stream waits for each piece, and small
        /// pieces reach it sooner; elsewhere `bulkPiecePages` costs less to
        /// place. Used only when smaller than `bulkPiecePages` (or when that
        /// is 0, whole frames); 0 (or less) keeps `bulkPiecePages` always,
        /// so both 0 places whole frames throughout. Measured on
        /// 2 vCPUs: sequential faults under the stream 35-40 us at p50, not
        /// 58-75, with no slower 2 GiB migration.
        public var frontPiecePages = 4
        /// CPUs the threads that receive and place the background stream
        /// (the bulk lane's) are confined to; nil: any. Confined, they leave
        /// the other CPUs to the fault loop, the urgent lane and the
        /// application, whose wake-ups then find a CPU free: faults wait
        /// less, the stream moves slower. Measured on 2 vCPUs (both sides'
        /// stream threads on CPU 1, bench/RESULTS.md): random remote faults
        /// under the stream 1.1-1.3x the floor, not 1.3-6.8x; a 2 GiB
        /// migration 1.3-2.8x slower.
        public var streamCPUs: CPUSet?
        public init() {}
    }

    /// The region: valid for the destination's lifetime; usable at once.
    public let region: MemoryRange
    public let configuration: Configuration
    private let mapping: MemoryMapping?
    private let uffd: Userfaultfd
    /// The lanes of the current connection (replaced on recovery).
    private let link: SourceLink
    private let firstLanes: SourceLink.Lanes
    private let ledger: PageLedger
    private let statistics: DestinationStatistics
    private let stopFaults: StopSignal
    private let threads: Threads
    private let control: DestinationControl
    private let completeSent = OnceFlag()
    private let started: ContinuousClock.Instant
    private let switchoverSeconds = LockedValue<Double>(0)
    private let faultLoop: FaultLoop
    private let supervisor: LaneSupervisor
    private let finishedAt = FinishTime()

    /// The threads a destination runs, set once after `init`.
    private final class Threads: Sendable {
        let list = LockedValue<[ParkedThread]>([])
    }

    /// Connects to the source at `endpoint`, maps and registers the region,
    /// starts the fault loop and the lane receivers, and tells the source it
    /// is running.
    public static func connect(to endpoint: Endpoint, memory: Memory = .anonymous,
                               configuration: Configuration = .init()) throws -> PostcopyDestination {
        try configuration.streamCPUs?.checkAvailable()
        // What does not depend on the source is ready before the switchover
        // clock starts: the kernel's features (a probe uffd), the uffd itself,
        // the latency histograms (two ~220 KiB tables) and the two threads,
        // parked until there is work. (Timed inside the switchover they were
        // ~0.3, ~0.5 and ~0.15 ms of it.)
        let statistics = DestinationStatistics()
        let prepared = try Prepared()
        // Until a destination holds the threads, a failure must release them.
        var threadsHeld = false
        do {
            let clock = ContinuousClock()
            let started = clock.now
            let urgent = try FramedSocket.connect(to: endpoint, lane: .urgent, timeout: configuration.connectTimeout)
            try urgent.send(.join(Join(lane: .urgent, session: 0)))
            // The bulk lane connects while the source answers JOIN (its JOIN
            // must wait for HELLO's session). The source accepts the urgent
            // connection first: it completed first.
            let bulk = try FramedSocket.connect(to: endpoint, lane: .bulk, timeout: configuration.connectTimeout,
                                                bulkBufferSize: configuration.bulkBufferSize)
            let frame = try urgent.receive()
            guard case .hello(let hello) = frame else {
                throw DestinationError.unexpectedFrame(state: "instead of HELLO", frame: "\(frame)")
            }
            guard hello.pageSize == SystemPage.size else {
                let error = DestinationError.pageSizeMismatch(source: hello.pageSize, local: SystemPage.size)
                try? urgent.send(.error(reporting: error))
                throw error
            }
            let geometry = hello.geometry
            urgent.geometry = geometry
            bulk.geometry = geometry
            try bulk.send(.join(Join(lane: .bulk, session: hello.session)))
            let destination = try PostcopyDestination(lanes: SourceLink.Lanes(urgent: urgent, bulk: bulk), hello: hello,
                                                      geometry: geometry, endpoint: endpoint, memory: memory,
                                                      configuration: configuration, started: started,
                                                      prepared: prepared, statistics: statistics)
            threadsHeld = true
            do {
                try destination.start()
            } catch {
                destination.control.fail(error)
                try? destination.finishFailed(error)  // releases the threads it started
                throw error
            }
            destination.switchoverSeconds.withLock { $0 = seconds(clock.now - started) }
            return destination
        } catch {
            if !threadsHeld { prepared.release() }
            throw error
        }
    }

    /// What a destination needs that does not depend on the source.
    private struct Prepared {
        let uffd: Userfaultfd
        let stopFaults: StopSignal
        let faultLoopThread: ParkedThread
        let lanesThread: ParkedThread

        init() throws {
            // POISON where the kernel has it (6.6+): how a failed migration
            // releases threads waiting for pages that will never come.
            let poison = (try? Userfaultfd.kernelFeatures().features.contains(.poison)) == true
            // REMOVE/UNMAP/REMAP: the application may drop, unmap or move parts of
            // the region while it arrives, and must be told apart from a fault.
            let events: UFFDFeatures = [.threadID, .eventRemove, .eventUnmap, .eventRemap]
            uffd = try Userfaultfd(features: poison ? events.union(.poison) : events)
            stopFaults = try StopSignal()
            // Last: nothing may throw once they run.
            faultLoopThread = ParkedThread(name: "fault loop")
            lanesThread = ParkedThread(name: "lanes")
        }

        /// Lets the parked threads end without work, and joins them.
        func release() {
            faultLoopThread.join()
            lanesThread.join()
        }
    }

    private init(lanes: SourceLink.Lanes, hello: Hello, geometry: Geometry, endpoint: Endpoint, memory: Memory,
                 configuration: Configuration, started: ContinuousClock.Instant,
                 prepared: Prepared, statistics: DestinationStatistics) throws {
        self.configuration = configuration
        self.started = started
        switch memory {
        case .anonymous:
            let mapping = try MemoryMapping(anonymousLength: geometry.regionLength)
            self.mapping = mapping
            region = mapping.range
        case .provided(let range):
            guard range.length == geometry.regionLength, range.isPageAligned else {
                throw DestinationError.providedMemoryMismatch(length: range.length, expected: geometry.regionLength)
            }
            guard madvise(UnsafeMutableRawPointer(bitPattern: range.start), range.length, MADV_DONTNEED) == 0 else {
                throw DestinationError.system(operation: "madvise(MADV_DONTNEED) \(range)", errno: errno)
            }
            mapping = nil
            region = range
        }
        // Registered before anything can touch it: every first touch faults.
        uffd = prepared.uffd
        try uffd.register(region, mode: .missing)
        // A child forked while pages are still arriving would get the region
        // without its registration, and read zeros where data belongs. It
        // gets no mapping there instead (SIGSEGV), until the region is whole.
        try region.setInheritedByFork(false)
        ledger = PageLedger(pageCount: geometry.pageCount)
        self.statistics = statistics
        stopFaults = prepared.stopFaults
        threads = Threads()
        threads.list.withLock { $0 = [prepared.faultLoopThread, prepared.lanesThread] }

        firstLanes = lanes
        let link = SourceLink(firstLanes, recovers: configuration.recoveryDeadline != nil)
        self.link = link

        let placer = PagePlacer(uffd: uffd, region: region, ledger: ledger, statistics: statistics,
                                onComplete: { [link, ledger, completeSent] in
            // Once, by whichever thread placed the last page; a reconnection
            // sends it again if the break swallowed it.
            guard completeSent.claim() else { return }
            try? link.sendUrgent(.complete(pagesHeld: ledger.pagesHeld))
        })
        control = DestinationControl(isComplete: { [ledger] in ledger.isComplete }, onFirstFailure: { error in
            link.close(sending: .error(reporting: error))
        })
        faultLoop = FaultLoop(uffd: uffd, region: region, ledger: ledger, placer: placer,
                              statistics: statistics, link: link, stop: stopFaults, control: control,
                              mapping: mapping)
        let receiver = LaneReceiver(placer: placer, ledger: ledger, statistics: statistics,
                                    eagerZeroMap: configuration.eagerZeroMap,
                                    placingThreads: configuration.placingThreads,
                                    bulkPiecePages: max(0, configuration.bulkPiecePages),
                                    frontPiecePages: max(0, configuration.frontPiecePages),
                                    urgentPollTime: configuration.urgentPollTime,
                                    streamCPUs: configuration.streamCPUs)
        supervisor = LaneSupervisor(link: link, receiver: receiver, ledger: ledger, control: control,
                                    statistics: statistics, endpoint: endpoint, hello: hello,
                                    recoveryDeadline: configuration.recoveryDeadline,
                                    handshakeTimeout: configuration.handshakeTimeout,
                                    bulkBufferSize: configuration.bulkBufferSize)
    }

    /// Tells the source the destination is running, then gives the fault
    /// loop and the lane receivers their work.
    ///
    /// READY goes first: whatever the source sends waits in the sockets, and
    /// a fault waits in the uffd, until the threads run; the other order let
    /// the two woken threads preempt READY on 2 vCPUs.
    private func start() throws {
        let (faultLoop, supervisor, lanes, control, finishedAt) =
            (self.faultLoop, self.supervisor, self.firstLanes, self.control, self.finishedAt)
        try lanes.urgent.send(.ready)
        // The threads hold the control, never the destination: a fault loop
        // still running after a failure must not keep the destination alive.
        let list = threads.list.withLock { $0 }
        list[0].run {
            do { try faultLoop.run() } catch { control.fail(error) }
        }
        list[1].run {
            // The caller of connect, preempted by this wake-up on a busy CPU,
            // has only its return left; the lanes' start (placing threads,
            // the skip bitmap, eager zero-mapping) would keep it off the CPU
            // for milliseconds. Measured on 2 vCPUs: 12 of 20 switchovers
            // over 1 ms (2-5 ms) without this, none of 20 with it.
            Scheduling.yield()
            do {
                try supervisor.run(first: lanes)
                finishedAt.record()
            } catch { control.fail(error) }
        }
    }

    deinit {
        // Only a failed migration whose region stayed registered (poisoning
        // off or impossible) still has its fault loop reading events here.
        stopFaults.signal()
        threads.list.withLock { $0 }.forEach { $0.join() }
    }

    /// Pages the destination holds, and the region's page count.
    public var progress: (held: Int, total: Int) { (ledger.pagesHeld, ledger.pageCount) }

    /// Whether the skip bitmap has arrived.
    public var hasSkipBitmap: Bool { ledger.hasSkipBitmap }

    /// Waits until every page is held and the source has acknowledged, then
    /// unregisters the region (ordinary memory from now on).
    ///
    /// - Throws: The first failure of any lane or of the fault loop. The
    ///   region then stays registered: a thread touching a page that never
    ///   arrived waits rather than reading zeros where data belongs.
    public func waitForCompletion() throws -> DestinationReport {
        let list = threads.list.withLock { $0 }
        list[1].join()  // the lanes end on DONE or on failure
        if let error = control.error { try finishFailed(error) }
        // Unregister while the fault loop still reads events, so no madvise
        // or munmap of the application's can wait on an unread event; then
        // stop the loop, which drains what is left.
        try uffd.unregister(region)
        try Self.restoreForkInheritance(region)
        stopFaults.signal()
        list[0].join()
        return report()
    }

    /// After a failure: stops the lanes, poisons the pages that never arrived
    /// (if configured and available) where the region now is, unregisters it
    /// and stops the fault loop; throws a `DestinationFailure` saying what
    /// arrived. Without poisoning the region stays registered and the fault
    /// loop keeps reading events (threads on missing pages wait) until the
    /// destination is released.
    private func finishFailed(_ error: any Error) throws -> Never {
        let list = threads.list.withLock { $0 }
        link.close(sending: .error(reporting: error))
        list.dropFirst().forEach { $0.join() }  // the lanes; no page is placed after this
        let current = control.movedTo ?? region
        var poisoned = 0
        var poisonError: UFFDError?
        if configuration.poisonMissingPagesOnFailure && uffd.features.contains(.poison) {
            do {
                poisoned = try poisonMissingPages(in: current)
                // Poison markers outlive the registration: the region becomes
                // ordinary memory with poisoned holes.
                try uffd.unregister(current)
                try Self.restoreForkInheritance(current)  // poison markers are inherited too
                stopFaults.signal()
                list.first?.join()
            } catch {
                poisonError = error
            }
        }
        throw DestinationFailure(cause: error, pagesHeld: ledger.pagesHeld, pageCount: ledger.pageCount,
                                 held: ledger.heldSnapshot, pagesPoisoned: poisoned, poisonError: poisonError,
                                 report: report())
    }

    /// `madvise(MADV_DOFORK)` over the region. ENOMEM means the application
    /// unmapped part of it: the kernel has advised the parts still mapped,
    /// which is all there is to restore.
    private static func restoreForkInheritance(_ region: MemoryRange) throws(UFFDError) {
        do {
            try region.setInheritedByFork(true)
        } catch {
            guard error.errno == .noMemory else { throw error }
        }
    }

    /// `UFFDIO_POISON` over every run of pages not held; waiting threads are
    /// woken and take SIGBUS. Returns the pages poisoned.
    private func poisonMissingPages(in region: MemoryRange) throws(UFFDError) -> Int {
        var poisoned = 0
        for run in ledger.heldSnapshot.runs(of: false) {
            var page = run.lowerBound
            while page < run.upperBound {
                switch try uffd.poison(region.pages(page, count: run.upperBound - page)) {
                case .resolved:
                    poisoned += run.upperBound - page
                    page = run.upperBound
                case .partial(let bytes):
                    poisoned += bytes / SystemPage.size
                    page += bytes / SystemPage.size
                case .alreadyPresent:
                    page += 1  // placed after all, just before the lanes stopped
                case .retryLater:
                    continue
                }
            }
        }
        return poisoned
    }

    private func report() -> DestinationReport {
        let end = finishedAt.instant ?? ContinuousClock().now
        return DestinationReport(
            pageCount: ledger.pageCount, pageSize: SystemPage.size,
            pagesZeroMappedEagerly: statistics.pagesZeroMappedEagerly.load(ordering: .relaxed),
            pagesZeroedOnFault: statistics.pagesZeroedLocally.load(ordering: .relaxed),
            pagesRequested: statistics.pagesRequested.load(ordering: .relaxed),
            requestFrames: statistics.requestFrames.load(ordering: .relaxed),
            pagesReceivedAsReply: statistics.pagesReceivedAsReply.load(ordering: .relaxed),
            pagesStreamed: statistics.pagesStreamed.load(ordering: .relaxed),
            piecesAtFront: statistics.piecesAtFront.load(ordering: .relaxed),
            zeroReplies: statistics.zeroReplies.load(ordering: .relaxed),
            duplicatePages: statistics.duplicatePages.load(ordering: .relaxed),
            pagesDropped: statistics.pagesDropped.load(ordering: .relaxed),
            bytesReceived: statistics.bytesReceived.load(ordering: .relaxed),
            wireBytesReceived: link.bytes.received,
            wireBytesSent: link.bytes.sent,
            faultsZeroLocal: statistics.faultsZeroLocal.load(ordering: .relaxed),
            faultsRemote: statistics.faultsRemote.load(ordering: .relaxed),
            faultsAlreadyHeld: statistics.faultsAlreadyHeld.load(ordering: .relaxed),
            reconnections: statistics.reconnections.load(ordering: .relaxed),
            pausedSeconds: Double(statistics.pausedNanoseconds.load(ordering: .relaxed)) / 1e9,
            localZeroLatencyMicroseconds: statistics.localZeroLatency.withLock { LatencySummary($0) },
            remoteLatencyMicroseconds: statistics.remoteLatency.withLock { LatencySummary($0) },
            switchoverSeconds: switchoverSeconds.withLock { $0 },
            totalSeconds: seconds(end - started))
    }
}

@inline(__always)
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// A flag the first claimant wins.
final class OnceFlag: Sendable {
    private let claimed = Atomic<Bool>(false)
    /// True for the first caller only.
    func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
}

/// When the urgent lane accepted DONE.
final class FinishTime: Sendable {
    private let time = LockedValue<ContinuousClock.Instant?>(nil)
    func record() { time.withLock { $0 = ContinuousClock().now } }
    var instant: ContinuousClock.Instant? { time.withLock { $0 } }
}
