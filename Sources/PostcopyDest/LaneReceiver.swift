import Bitmaps
import PostcopyWire
import SystemCalls
import UFFDCore

/// Receives one lane's frames and places their pages.
struct LaneReceiver: Sendable {
    let placer: PagePlacer
    let ledger: PageLedger
    let statistics: DestinationStatistics
    let eagerZeroMap: Bool
    /// Threads placing the bulk lane's pages while it receives; 0 places
    /// them on the receiving thread. (The urgent lane always places its own:
    /// a reply must not queue behind streamed pages.)
    let placingThreads: Int
    /// Pieces the bulk lane places a frame in (pages; 0: whole frames).
    let bulkPiecePages: Int
    /// Pieces while a thread waits at the stream's front (0: `bulkPiecePages`).
    let frontPiecePages: Int
    /// How long the urgent lane polls for the next reply before sleeping,
    /// when the stream is quiet.
    let urgentPollTime: Duration
    /// CPUs the bulk lane's receiving thread, and so its placing threads,
    /// are confined to; nil: any.
    let streamCPUs: CPUSet?
    /// Shared by both lanes' runs: the bulk lane records, the urgent lane asks.
    let streamActivity = StreamActivity()

    /// How a lane's receiving ended.
    enum End {
        /// The source acknowledged COMPLETE (urgent lane).
        case done
        /// The lane closed or broke once every page was held: nothing lost,
        /// but the source may not have had COMPLETE.
        case closedWhileComplete
    }

    /// Runs until the source's DONE (urgent lane) or the end of the stream
    /// after completion (either lane). Returns or throws only once every
    /// page it received is placed.
    func run(urgentLane: Bool, socket: FramedSocket) throws -> End {
        if urgentLane {
            let activity = streamActivity
            // Over TCP the poll gives way to a flowing stream (see StreamActivity).
            let whileQuiet: (@Sendable () -> Bool)? = socket.isTCP ? { @Sendable in activity.isQuiet() } : nil
            socket.pollBeforeSleeping(for: urgentPollTime, when: whileQuiet)
        } else {
            let (activity, statistics, bulk, front) = (streamActivity, statistics, bulkPiecePages, frontPiecePages)
            // Front pieces only where they are smaller (bulk 0: whole frames).
            if front > 0 && (bulk == 0 || front < bulk) {
                socket.receivePagesInPieces {
                    guard activity.isFaultedAtFront() else { return bulk }
                    statistics.piecesAtFront.add(1, ordering: .relaxed)
                    return front
                }
            } else {
                socket.receivePagesInPieces(ofAtMost: bulk)
            }
            // Before the placing threads start: they inherit the set.
            try streamCPUs?.confineCurrentThread()
        }
        guard !urgentLane && placingThreads > 0 else {
            return try receive(urgentLane: urgentLane, socket: socket, placing: nil)
        }
        // Two buffers per thread: one being placed, one received meanwhile.
        let placing = PlacingThreads(threadCount: placingThreads, bufferCount: 2 * placingThreads + 1,
                                     placer: placer, statistics: statistics)
        defer { placing.stop() }
        let end = try receive(urgentLane: false, socket: socket, placing: placing)
        try placing.drain()
        return end
    }

    private func receive(urgentLane: Bool, socket: FramedSocket, placing: PlacingThreads?) throws -> End {
        let pageSize = SystemPage.size
        while true {
            let frame: Frame
            do {
                frame = try socket.receive()
            } catch {
                // Pages received before the break are placed, and held, first.
                try placing?.drain()
                // Every page is here: the source closing either lane (after
                // DONE, or mid-frame of a page already held) ends nothing.
                if ledger.isComplete { return .closedWhileComplete }
                throw error
            }
            switch frame {
            case .pages(let offset, let count, let isReply):
                let first = offset / pageSize
                if !urgentLane {
                    streamActivity.recordPages()
                    // A thread faulted on a page of this piece before it
                    // arrived: it waits at the stream's front.
                    if (first..<(first + count)).contains(where: ledger.wasRequested) {
                        streamActivity.recordFaultAtFront()
                    }
                }
                if let placing {
                    let buffer = placing.takeBuffer()
                    socket.movePageData(into: buffer)
                    try placing.submit(buffer, pages: first..<(first + count), isReply: isReply)
                    continue
                }
                try placer.copy(first..<(first + count), from: socket.pageData.baseAddress!)
                statistics.bytesReceived.add(count * pageSize, ordering: .relaxed)
                if isReply {
                    statistics.pagesReceivedAsReply.add(count, ordering: .relaxed)
                } else {
                    statistics.pagesStreamed.add(count, ordering: .relaxed)
                }
            case .zero(let offset, let count):
                let first = offset / pageSize
                try placer.zero(first..<(first + count))
                statistics.zeroReplies.add(count, ordering: .relaxed)
            case .bitmap(let kind, let encoded) where urgentLane:
                guard kind == Wire.skipBitmapKind else { throw DestinationError.unexpectedFrame(state: "bitmap kind", frame: "\(kind)") }
                let skip = try RunLengthCodec.decode(encoded, expectedPageCount: ledger.pageCount)
                ledger.publishSkip(skip)
                if eagerZeroMap {
                    try zeroMap(skip)  // records every page it maps
                } else {
                    // Skipped pages count as held though not mapped: they will
                    // never arrive, and once the region is unregistered an
                    // unmapped anonymous page reads as zero, their content.
                    for run in skip.runs(of: true) { placer.account(run) }
                }
            case .done where urgentLane:
                guard ledger.isComplete else {
                    throw DestinationError.doneBeforeComplete(held: ledger.pagesHeld, pageCount: ledger.pageCount)
                }
                return .done
            case .error(let code, let reason):
                throw WireError.remote(code: code, reason: reason)
            default:
                throw DestinationError.unexpectedFrame(state: urgentLane ? "on the urgent lane" : "on the bulk lane", frame: "\(frame)")
            }
        }
    }

    /// Zero-maps every skipped run not yet held: one UFFDIO_ZEROPAGE per run.
    private func zeroMap(_ skip: PageBitmap) throws {
        var mapped = 0
        for run in skip.runs(of: true) {
            let duplicates = try placer.zero(run)
            mapped += run.count - duplicates
        }
        statistics.pagesZeroMappedEagerly.add(mapped, ordering: .relaxed)
    }
}
