import PostcopyWire
import SystemCalls
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
    /// Where requests and discards go (queued while the link is paused).
    let link: SourceLink
    let stop: StopSignal
    /// Shared with the destination: whether the migration failed (faults are
    /// then left waiting, no request is sent) and where the region moved to.
    let control: DestinationControl
    /// The destination's own mapping, if it made one: told which parts the
    /// application unmapped or moved, so they are never unmapped again.
    let mapping: MemoryMapping?

    /// The pages of the region that `range` covers, if any.
    private func pages(of range: MemoryRange) -> Range<Int>? {
        let start = max(range.start, region.start), end = min(range.end, region.end)
        guard start < end else { return nil }
        let pageSize = UInt(SystemPage.size)
        return Int((start - region.start) / pageSize)..<Int((end - region.start + pageSize - 1) / pageSize)
    }

    /// Runs until `stop` is signalled, then reads what is still pending: an
    /// unread REMOVE, UNMAP or REMAP event would block the application's
    /// madvise, munmap or mremap for good.
    func run() throws {
        var events = EventBuffer(capacity: 64)
        var offsets: [Int] = []
        offsets.reserveCapacity(events.capacity)
        while try uffd.waitForEvents(stop: stop) == .readable {
            do {
                try serve(&events, &offsets)
            } catch {
                // A failed send or ioctl fails the migration, not the loop:
                // events must still be read while the region is registered.
                control.fail(error)
                offsets.removeAll(keepingCapacity: true)
            }
        }
        while try uffd.readEvents(into: &events, { _ in }) > 0 {}
    }

    /// Reads one batch of events and resolves or requests what it can.
    private func serve(_ events: inout EventBuffer, _ offsets: inout [Int]) throws {
        let pageSize = SystemPage.size
        try uffd.readEvents(into: &events) { event in
            let fault: PageFault
            switch event {
            case .pageFault(let pageFault) where region.contains(pageFault.address):
                fault = pageFault
            case .remove(let range), .unmap(let range):
                // The application dropped or unmapped part of the region.
                if case .unmap = event { mapping?.relinquish(range) }
                if let pages = pages(of: range), !control.hasFailed {
                    // Tell the source first: dropping may complete the
                    // region, and its COMPLETE must not overtake this.
                    // The drop is recorded under the link's lock, so that a
                    // reconnection's RESUME either shows it or follows this.
                    var completed = false
                    try link.sendUrgent(.discard(offset: pages.lowerBound * pageSize, count: pages.count)) {
                        completed = placer.drop(pages)
                    }
                    statistics.pagesDropped.add(pages.count, ordering: .relaxed)
                    if completed { placer.onComplete() }
                }
                return
            case .remap(let from, let to, let length):
                // Refused, but the loop goes on: mremap also raises an UNMAP
                // event for the old range, and waits until it is read.
                control.moved(to: MemoryRange(start: to, length: length))
                mapping?.relinquish(MemoryRange(start: from, length: length))  // the application's now
                control.fail(DestinationError.regionMoved(from: from, to: to, length: length))
                return
            default:
                return
            }
            // After a failure nothing more arrives: the thread waits until
            // its page is poisoned (or the region unregistered).
            if control.hasFailed { return }
            let read = monotonicNanoseconds()
            let page = Int(fault.address - region.start) / pageSize
            if ledger.isDropped(page) || ledger.isSkipped(page) {
                // Skipped by the source, or dropped by the application:
                // zero is the content, no round trip. Checked before
                // "held", which such pages are without being mapped.
                switch try placer.zeroForFault(page) {
                case .placed:
                    break
                case .alreadyPresent, .addressSpaceChanging:
                    // Mapped meanwhile by another path (whose wake may have
                    // come before this thread queued), or the application is
                    // changing the address space: wake the thread; it touches
                    // the page again, faulting anew if it is still missing.
                    try uffd.wake(region.pages(page, count: 1))
                }
                statistics.faultsZeroLocal.add(1, ordering: .relaxed)
                statistics.pagesZeroedLocally.add(1, ordering: .relaxed)
                let latency = monotonicNanoseconds() &- read
                statistics.localZeroLatency.withLock { _ = $0.record(latency) }
            } else if ledger.isHeld(page) {
                // Placed between the fault and now; the placement woke the
                // thread unless it queued just after, so wake to be sure.
                statistics.faultsAlreadyHeld.add(1, ordering: .relaxed)
                try uffd.wake(region.pages(page, count: 1))
            } else {
                statistics.faultsRemote.add(1, ordering: .relaxed)
                if ledger.claimRequest(page) {
                    statistics.outstanding.withLock { $0[page] = read }
                    offsets.append(page * pageSize)
                }
            }
        }
        defer { offsets.removeAll(keepingCapacity: true) }
        if !offsets.isEmpty && !control.hasFailed {
            try link.sendUrgent(.request(offsets: offsets))
            statistics.pagesRequested.add(offsets.count, ordering: .relaxed)
            statistics.requestFrames.add(1, ordering: .relaxed)
        }
    }
}
