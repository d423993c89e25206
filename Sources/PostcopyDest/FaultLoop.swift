import PostcopyWire
import UFFDCore

/// The destination's fault handler: reads faults in batches and resolves each
/// locally (a skipped page is zero-mapped at once) or asks the source for it,
/// once per page, in one REQUEST frame per batch.
struct FaultLoop: Sendable {
    let uffd: Userfaultfd
    let region: MemoryRange
    let ledger: PageLedger
    let placer: PagePlacer
    let statistics: DestinationStatistics
    let urgent: FramedSocket
    let stop: StopSignal

    /// Runs until `stop` is signalled.
    func run() throws {
        let pageSize = SystemPage.size
        var events = EventBuffer(capacity: 64)
        var offsets: [Int] = []
        offsets.reserveCapacity(events.capacity)
        while try uffd.waitForEvents(stop: stop) == .readable {
            try uffd.readEvents(into: &events) { event in
                guard case .pageFault(let fault) = event, region.contains(fault.address) else { return }
                let read = monotonicNanoseconds()
                let page = Int(fault.address - region.start) / pageSize
                if ledger.isHeld(page) {
                    // Placed between the fault and now; the placement woke the
                    // thread unless it queued just after, so wake to be sure.
                    statistics.faultsAlreadyHeld.add(1, ordering: .relaxed)
                    try uffd.wake(region.pages(page, count: 1))
                } else if ledger.isSkipped(page) {
                    try placer.zero(page..<(page + 1))
                    statistics.faultsZeroLocal.add(1, ordering: .relaxed)
                    statistics.pagesZeroedLocally.add(1, ordering: .relaxed)
                    let latency = monotonicNanoseconds() &- read
                    statistics.localZeroLatency.withLock { _ = $0.record(latency) }
                } else {
                    statistics.faultsRemote.add(1, ordering: .relaxed)
                    if ledger.claimRequest(page) {
                        statistics.outstanding.withLock { $0[page] = read }
                        offsets.append(page * pageSize)
                    }
                }
            }
            if !offsets.isEmpty {
                try urgent.send(.request(offsets: offsets))
                statistics.pagesRequested.add(offsets.count, ordering: .relaxed)
                statistics.requestFrames.add(1, ordering: .relaxed)
                offsets.removeAll(keepingCapacity: true)
            }
        }
    }
}
