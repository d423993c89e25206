import Bitmaps
import PostcopyWire
import SystemCalls

/// The destination's connection to the source: the two lanes of the current
/// generation, or none while the migration is paused after losing one.
///
/// Every frame the destination sends on the urgent lane goes through here,
/// under one lock, so that the frames of a reconnection (RESUME, then what
/// could not be sent while paused) keep their order with the fault loop's
/// requests and discards and the placer's COMPLETE.
final class SourceLink: Sendable {
    /// One generation's connections.
    struct Lanes: Sendable {
        let urgent: FramedSocket
        let bulk: FramedSocket

        /// Shuts both (`shutdown(2)`): their receivers return, the source sees
        /// end of stream and pauses too.
        func sever() {
            urgent.shutdown()
            bulk.shutdown()
        }
    }

    private struct State {
        /// Nil while paused (or closed).
        var lanes: Lanes?
        /// Frames that could not be sent while paused, in order.
        var backlog: [Frame] = []
        /// Set on failure: nothing is sent or queued any more.
        var isClosed = false
        /// The newest generation until `retire` counts its bytes.
        var unretired: Lanes?
        /// Bytes of generations already retired.
        var retiredBytesSent = 0
        var retiredBytesReceived = 0
    }

    private let state: LockedValue<State>
    /// Whether a lost lane pauses the migration (recovery on) or fails it.
    let recovers: Bool

    init(_ lanes: Lanes, recovers: Bool) {
        state = LockedValue(State(lanes: lanes, unretired: lanes))
        self.recovers = recovers
    }

    /// Sends `frame` on the urgent lane, then runs `then` (still under the
    /// lock, so a RESUME snapshot sees both or neither).
    ///
    /// With recovery on, a frame that cannot go out (paused, or the lane is
    /// lost now, which severs both lanes) is kept for the next generation;
    /// after a failure it is dropped.
    ///
    /// - Throws: A `WireError` that is not a lost connection (a frame that
    ///   breaks the protocol), or any error when recovery is off.
    func sendUrgent(_ frame: Frame, then: () -> Void = {}) throws(WireError) {
        try state.withLock { state throws(WireError) in
            defer { then() }
            guard !state.isClosed else { return }
            guard let lanes = state.lanes else {
                state.backlog.append(frame)
                return
            }
            do throws(WireError) {
                try lanes.urgent.send(frame)
            } catch {
                guard recovers && error.isConnectionLoss else { throw error }
                state.backlog.append(frame)
                state.lanes = nil
                lanes.sever()
            }
        }
    }

    /// Pauses: forgets the current lanes (severing them) so frames queue.
    func pause() {
        state.withLock { state in
            guard let lanes = state.lanes else { return }
            state.lanes = nil
            lanes.sever()
        }
    }

    /// Makes `lanes` current: sends the frame `resume` makes from a snapshot
    /// taken under the lock, then the backlog, in order.
    ///
    /// - Throws: What sending throws; the lanes are then not current.
    func resume(on lanes: Lanes, with resume: () -> Frame) throws(WireError) {
        try state.withLock { state throws(WireError) in
            guard !state.isClosed else { throw WireError.connectionClosed }
            try lanes.urgent.send(resume())
            for frame in state.backlog { try lanes.urgent.send(frame) }
            state.backlog.removeAll()
            state.lanes = lanes
            state.unretired = lanes
        }
    }

    /// After a failure: sends `frame` (the ERROR) where a lane still works,
    /// severs the lanes, and drops every later frame.
    func close(sending frame: Frame) {
        state.withLock { state in
            state.isClosed = true
            state.backlog.removeAll()
            guard let lanes = state.lanes else { return }
            try? lanes.urgent.send(frame)
            lanes.sever()
        }
    }

    /// Counts the bytes of the newest generation, whose receivers have
    /// stopped, and lets go of it.
    func retire() {
        state.withLock { state in
            guard let lanes = state.unretired else { return }
            state.retiredBytesSent += lanes.urgent.bytesSent + lanes.bulk.bytesSent
            state.retiredBytesReceived += lanes.urgent.bytesReceived + lanes.bulk.bytesReceived
            state.unretired = nil
        }
    }

    /// Bytes written to and read from every lane so far.
    var bytes: (sent: Int, received: Int) {
        state.withLock { state in
            (state.retiredBytesSent + (state.unretired.map { $0.urgent.bytesSent + $0.bulk.bytesSent } ?? 0),
             state.retiredBytesReceived + (state.unretired.map { $0.urgent.bytesReceived + $0.bulk.bytesReceived } ?? 0))
        }
    }
}
