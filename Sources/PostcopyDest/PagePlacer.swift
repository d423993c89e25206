#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import UFFDCore

/// Places runs of pages in the destination region and records them held.
///
/// Any page may be placed by two paths (requested and streamed, or a ZERO
/// reply and the eager zero-map); the loser gets EEXIST from the kernel, which
/// is how a page ends placed exactly once.
struct PagePlacer: Sendable {
    let uffd: Userfaultfd
    let region: MemoryRange
    let ledger: PageLedger
    let statistics: DestinationStatistics
    /// Called once, by whichever placement completes the region.
    let onComplete: @Sendable () -> Void

    /// Copies `pages` from `data` (their bytes, in order) with as few
    /// UFFDIO_COPY calls as the pages already present allow. Pages the
    /// application dropped meanwhile are left alone.
    ///
    /// - Returns: Pages that were already present (duplicates).
    @discardableResult
    func copy(_ pages: Range<Int>, from data: UnsafeRawPointer) throws -> Int {
        var duplicates = 0
        var start = pages.lowerBound
        while start < pages.upperBound {
            // The next run of pages not dropped.
            while start < pages.upperBound && ledger.isDropped(start) { start += 1 }
            var end = start
            while end < pages.upperBound && !ledger.isDropped(end) { end += 1 }
            guard start < end else { break }
            duplicates += try place(start..<end) { range, index throws(UFFDError) in
                try uffd.copy(to: range, from: data + (index - pages.lowerBound) * SystemPage.size)
            }
            // A drop whose event was read while this copy ran may have zapped
            // the pages just before the copy landed: discard them again, so
            // the application never sees the source's bytes where it dropped.
            for page in start..<end where ledger.isDropped(page) {
                try region.pages(page, count: 1).discardPages()
            }
            start = end
        }
        return duplicates
    }

    /// Records pages the application dropped or unmapped: not needed any
    /// more, so they count as held. Returns whether that completed the
    /// region; the caller then calls `onComplete` (after telling the source
    /// of the drop, which COMPLETE must not overtake).
    func drop(_ pages: Range<Int>) -> Bool {
        ledger.markDropped(pages)
        return record(pages, notifying: false)
    }

    /// Counts `pages` as held without placing anything: skipped pages, whose
    /// content (zero) needs no placement.
    func account(_ pages: Range<Int>) { record(pages) }

    /// Zero-maps `pages` (UFFDIO_ZEROPAGE, one call per run of missing pages).
    @discardableResult
    func zero(_ pages: Range<Int>) throws -> Int {
        try place(pages) { range, _ throws(UFFDError) in try uffd.zeroPage(range) }
    }

    /// How the fault loop's zero-fill of one page ended.
    enum FaultZeroFill { case placed, alreadyPresent, addressSpaceChanging }

    /// Zero-maps one faulting page for the fault loop, which must not wait
    /// for an address-space change to finish: only it can read the event
    /// that ends the change.
    func zeroForFault(_ page: Int) throws -> FaultZeroFill {
        var interrupted = false
        let duplicates = try place(page..<(page + 1), onAddressSpaceChange: { interrupted = true }) { range, _ throws(UFFDError) in
            try uffd.zeroPage(range)
        }
        return interrupted ? .addressSpaceChanging : duplicates > 0 ? .alreadyPresent : .placed
    }

    /// Resolves `pages` with `resolve(range, firstIndex)`, stepping over pages
    /// already present; marks what it placed held and times answered requests.
    ///
    /// EAGAIN with no progress means the application is changing the address
    /// space (an madvise/munmap/mremap whose event is not read yet). A lane
    /// receiver yields and retries (the fault loop reads the event); the fault
    /// loop passes `onAddressSpaceChange`, and placing stops there.
    private func place(_ pages: Range<Int>, onAddressSpaceChange: (() -> Void)? = nil,
                       _ resolve: (MemoryRange, Int) throws(UFFDError) -> ResolveOutcome) throws -> Int {
        let pageSize = SystemPage.size
        var page = pages.lowerBound
        var duplicates = 0
        while page < pages.upperBound {
            let range = region.pages(page, count: pages.upperBound - page)
            let outcome: ResolveOutcome
            do {
                outcome = try resolve(range, page)
            } catch {
                // Unmapped by the application meanwhile: nothing to place there.
                guard error.errno == .noSuchFileOrDirectory, ledger.isDropped(page) else { throw error }
                page += 1
                continue
            }
            switch outcome {
            case .resolved:
                record(page..<pages.upperBound)
                page = pages.upperBound
            case .partial(let bytes):
                let done = bytes / pageSize
                record(page..<(page + done))
                page += done
            case .alreadyPresent:
                // Whoever placed it recorded it; step over that one page.
                duplicates += 1
                page += 1
            case .retryLater:
                if let onAddressSpaceChange {
                    onAddressSpaceChange()
                    return duplicates
                }
                sched_yield()
                continue
            }
        }
        if duplicates > 0 { statistics.duplicatePages.add(duplicates, ordering: .relaxed) }
        return duplicates
    }

    /// Marks `pages` held; returns whether that completed the region, and
    /// then calls `onComplete` if `notifying`.
    @discardableResult
    private func record(_ pages: Range<Int>, notifying: Bool = true) -> Bool {
        guard !pages.isEmpty else { return false }
        let added = ledger.markHeld(pages)
        timeAnsweredRequests(pages)
        let completed = added > 0 && ledger.isComplete
        if completed && notifying { onComplete() }
        return completed
    }

    /// Remote-fault latency: from the fault being read to its page placed,
    /// by whichever lane delivered it first.
    private func timeAnsweredRequests(_ pages: Range<Int>) {
        var answered: [UInt64] = []
        for page in pages where ledger.wasRequested(page) {
            if let start = statistics.outstanding.withLock({ $0.removeValue(forKey: page) }) {
                answered.append(monotonicNanoseconds() &- start)
            }
        }
        guard !answered.isEmpty else { return }
        statistics.remoteLatency.withLock { histogram in
            for latency in answered { _ = histogram.record(latency) }
        }
    }
}
