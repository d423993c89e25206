#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import PostcopyWire
import SystemCalls
import UFFDCore

/// Runs the lanes' receivers, generation after generation: when a lane is
/// lost before DONE, pauses (faulting threads stay blocked, nothing placed is
/// lost), reconnects to the source with the migration's session, tells it
/// what is held (RESUME) and asks again for what is still outstanding.
struct LaneSupervisor: Sendable {
    let link: SourceLink
    let receiver: LaneReceiver
    let ledger: PageLedger
    let control: DestinationControl
    let statistics: DestinationStatistics
    let endpoint: Endpoint
    let hello: Hello
    let recoveryDeadline: Duration?
    let handshakeTimeout: Duration
    let bulkBufferSize: Int

    /// Receives until DONE (or until every page is held and the source has
    /// gone), reconnecting after each lost lane while the deadline allows.
    ///
    /// - Throws: The first error that is not a lost connection, or
    ///   `DestinationError.sourceUnreachable` once a reconnection's deadline
    ///   passes.
    func run(first: SourceLink.Lanes) throws {
        var lanes = first
        while true {
            let end: LaneReceiver.End
            do {
                end = try receive(on: lanes)
            } catch {
                guard let cause = error as? WireError, cause.isConnectionLoss, let recoveryDeadline,
                      !control.hasFailed else { throw error }
                lanes = try reconnect(after: cause, within: recoveryDeadline)
                continue
            }
            switch end {
            case .done:
                return
            case .closedWhileComplete:
                // Every page is here, but the source may not have COMPLETE:
                // one short try to tell it. A source that is gone (it had
                // COMPLETE, and its DONE was lost) is no failure.
                guard let recoveryDeadline else { return }
                let wait = min(recoveryDeadline, handshakeTimeout)
                guard let next = try? reconnect(after: .connectionClosed, within: wait) else { return }
                lanes = next
            }
        }
    }

    /// One generation: the bulk lane on a thread of its own, the urgent lane
    /// here. Either lane's loss severs both, so both receivers return.
    private func receive(on lanes: SourceLink.Lanes) throws -> LaneReceiver.End {
        // The first lane to fail names the cause: the other one fails next
        // only because the first severed it.
        let firstFailure = LockedValue<(any Error)?>(nil)
        let (receiver, link, control) = (self.receiver, self.link, self.control)
        let bulk = DedicatedThread(name: "bulk lane") {
            do {
                _ = try receiver.run(urgentLane: false, socket: lanes.bulk)
            } catch {
                firstFailure.withLock { if $0 == nil { $0 = error } }
                if let wire = error as? WireError, wire.isConnectionLoss, link.recovers {
                    link.pause()  // wakes the urgent receiver
                } else {
                    control.fail(error)
                }
            }
        }
        let urgentEnd: Result<LaneReceiver.End, any Error>
        do {
            urgentEnd = .success(try receiver.run(urgentLane: true, socket: lanes.urgent))
            lanes.bulk.shutdown()  // the stream after DONE, or what a cut left: nothing needed
        } catch {
            if let wire = error as? WireError, wire.isConnectionLoss, link.recovers {
                firstFailure.withLock { if $0 == nil { $0 = error } }
                link.pause()
            } else {
                control.fail(error)  // tells the source why, and stops the bulk lane
            }
            urgentEnd = .failure(error)
        }
        bulk.join()
        link.retire()
        switch urgentEnd {
        case .success(let end):
            return end
        case .failure(let error):
            guard let wire = error as? WireError, wire.isConnectionLoss else { throw error }
            throw firstFailure.withLock { $0 } ?? error
        }
    }

    /// Reconnects with the migration's session and resumes, retrying until
    /// `deadline` has passed.
    private func reconnect(after cause: WireError, within deadline: Duration) throws -> SourceLink.Lanes {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + deadline
        var attempts = 0
        var lastError: any Error = cause
        var backoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(500))
        while !control.hasFailed {
            let remaining = end - clock.now
            guard remaining > .zero else { break }
            attempts += 1
            do {
                let lanes = try resume(timeout: min(remaining, handshakeTimeout))
                statistics.reconnections.add(1, ordering: .relaxed)
                statistics.pausedNanoseconds.add(Int((clock.now - start) / .nanoseconds(1)), ordering: .relaxed)
                return lanes
            } catch {
                guard let wire = error as? WireError, wire.isConnectionLoss else { throw error }
                lastError = error
                link.pause()
            }
            guard backoff.wait(before: end) else { break }
        }
        if let error = control.error { throw error }
        throw DestinationError.sourceUnreachable(seconds: seconds(deadline), attempts: attempts, cause: "\(cause)",
                                                 lastError: "\(lastError)")
    }

    /// One attempt: JOIN(urgent), HELLO, JOIN(bulk), RESUME, then the
    /// requests the break may have swallowed and, if every page is held,
    /// COMPLETE again.
    private func resume(timeout: Duration) throws -> SourceLink.Lanes {
        let urgent = try FramedSocket.connect(to: endpoint, lane: .urgent, timeout: timeout)
        try urgent.setReceiveTimeout(timeout)
        try urgent.send(.join(Join(lane: .urgent, session: hello.session)))
        let frame = try urgent.receive()
        guard case .hello(let again) = frame else {
            throw DestinationError.unexpectedFrame(state: "instead of HELLO on reconnecting", frame: "\(frame)")
        }
        guard again.session == hello.session, again.geometry == hello.geometry else {
            throw DestinationError.differentSource(endpoint: "\(endpoint)")
        }
        urgent.geometry = hello.geometry
        let bulk = try FramedSocket.connect(to: endpoint, lane: .bulk, timeout: timeout, bulkBufferSize: bulkBufferSize)
        bulk.geometry = hello.geometry
        try bulk.send(.join(Join(lane: .bulk, session: hello.session)))
        try urgent.setReceiveTimeout(nil)
        let lanes = SourceLink.Lanes(urgent: urgent, bulk: bulk)
        // The snapshot is taken under the link's lock: a discard the fault
        // loop records is either in it or sent after it.
        try link.resume(on: lanes) {
            .resume(hasSkipBitmap: ledger.hasSkipBitmap, held: RunLengthCodec.encode(ledger.heldSnapshot))
        }
        // Requests sent before the break may have been lost with it.
        let outstanding = ledger.outstandingRequests().map { $0 * hello.pageSize }
        var index = 0
        while index < outstanding.count {
            let chunk = Array(outstanding[index..<min(index + FrameLimits().maxRequestCount, outstanding.count)])
            try link.sendUrgent(.request(offsets: chunk))
            index += chunk.count
        }
        // So may COMPLETE (a second one is never read).
        if ledger.isComplete { try link.sendUrgent(.complete(pagesHeld: ledger.pagesHeld)) }
        return lanes
    }
}
