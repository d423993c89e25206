#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("Waiting for events: blocking, non-blocking, stopping a waiter", .watchdog)
struct EventWaitTests {
    @Test("a waiter blocked with nothing pending returns .stopped when the stop signal is raised")
    func stopWaitingReader() throws {
        let uffd = try Userfaultfd()
        let stop = try StopSignal()
        let result = LockedValue<WaitResult?>(nil)
        let waiter = TestThread.spawn {
            let outcome = try? uffd.waitForEvents(stop: stop)
            result.withLock { $0 = outcome }
        }
        usleep(50_000)
        #expect(result.withLock { $0 } == nil, "the waiter returned before the signal")
        stop.signal()
        #expect(waiter.join())
        #expect(result.withLock { $0 } == .stopped)
        #expect(stop.isSignalled)
        // Stays signalled: a later wait returns at once.
        #expect(try uffd.waitForEvents(stop: stop) == .stopped)
    }

    @Test("non-blocking read returns no events; a wait with a timeout times out")
    func nonBlocking() throws {
        let uffd = try Userfaultfd()
        var buffer = EventBuffer()
        #expect(try uffd.readEvents(into: &buffer) { _ in Issue.record("no event was pending") } == 0)
        #expect(try uffd.waitForEvents(timeout: .milliseconds(20)) == .timedOut)
    }

    @Test("a blocking descriptor's read waits for the fault, and one read returns many messages")
    func blockingBatchedRead() throws {
        let uffd = try Userfaultfd(nonBlocking: false)
        #expect(!uffd.isNonBlocking)
        let threads = 4
        let region = try MemoryMapping(anonymousLength: threads * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let base = region.range.start
        let readers = (0..<threads).map { index in
            TestThread.spawn { #expect(touch(base + UInt(index * SystemPage.size)) == 0) }
        }
        var buffer = EventBuffer(capacity: 8)
        var faulted = Set<UInt>()
        var largestBatch = 0
        while faulted.count < threads {
            // Wait until every reader is queued, so one read can return them all.
            if faulted.isEmpty { usleep(50_000) }
            let count = try uffd.readEvents(into: &buffer) { event throws in
                guard case .pageFault(let fault) = event else { return }
                faulted.insert(fault.address)
                _ = try uffd.zeroPage(MemoryRange(start: fault.address, length: SystemPage.size))
            }
            #expect(count >= 1)
            largestBatch = max(largestBatch, count)
        }
        for reader in readers { #expect(reader.join()) }
        #expect(faulted == Set((0..<threads).map { base + UInt($0 * SystemPage.size) }))
        #expect(largestBatch > 1)
    }
}
