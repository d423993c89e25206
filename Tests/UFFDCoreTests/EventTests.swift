#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CTestSupport
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("Non-cooperative events: REMOVE, UNMAP, REMAP, FORK", .watchdog)
struct EventTests {
    @Test("madvise(MADV_DONTNEED) reports REMOVE and the pages fault again")
    func remove() throws {
        let uffd = try Userfaultfd(features: [.eventRemove])
        let region = try MemoryMapping(anonymousLength: 8 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(pages: 8, byte: 0x42)
        #expect(try uffd.copy(to: region.range, from: source.pointer) == .resolved)
        let server = try FaultServer(uffd) { event throws in
            if case .pageFault(let fault) = event {
                _ = try uffd.zeroPage(MemoryRange(start: fault.address, length: SystemPage.size))
            }
        }
        let dropped = region.range.pages(2, count: 3)
        let worker = TestThread.spawn {
            #expect(madvise(UnsafeMutableRawPointer(bitPattern: dropped.start), dropped.length, MADV_DONTNEED) == 0)
            #expect(touch(dropped.start) == 0)            // dropped: missing again, zero-filled by the server
            #expect(touch(region.range.start) == 0x42)    // kept
        }
        #expect(worker.join())
        server.finish()
        let events = server.events
        #expect(events.count == 2)
        guard events.count == 2 else { return }
        if case .remove(let range) = events[0] { #expect(range == dropped) } else { Issue.record("first event: \(events[0])") }
        if case .pageFault(let fault) = events[1] { #expect(fault.address == dropped.start) } else { Issue.record("second: \(events[1])") }
    }

    @Test("munmap of part of a registered range reports UNMAP")
    func unmap() throws {
        let uffd = try Userfaultfd(features: [.eventUnmap])
        let region = try MemoryMapping(anonymousLength: 8 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let server = try FaultServer(uffd) { _ in }
        let upper = region.range.pages(4, count: 4)
        let worker = TestThread.spawn {
            #expect(munmap(UnsafeMutableRawPointer(bitPattern: upper.start), upper.length) == 0)
        }
        #expect(worker.join())
        server.finish()
        let events = server.events
        #expect(events.count == 1)
        if case .unmap(let range)? = events.first { #expect(range == upper) } else { Issue.record("\(events)") }
        // Those addresses may be anyone's now: the mapping must not unmap them again.
        region.relinquish(upper)
        // With EVENT_UNMAP and no reader left, the mapping's own munmap would
        // wait forever for its event to be read: unregister first.
        try uffd.unregister(region.range.pages(0, count: 4))
    }

    @Test("mremap reports REMAP, and faults then arrive at the new address")
    func remap() throws {
        let uffd = try Userfaultfd(features: [.eventRemap])
        let pages = 4
        let old = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        let target = try MemoryMapping(anonymousLength: pages * SystemPage.size)  // a place to move to
        try uffd.register(old.range, mode: .missing)
        let server = try FaultServer(uffd) { event throws in
            if case .pageFault(let fault) = event {
                _ = try uffd.zeroPage(MemoryRange(start: fault.address, length: SystemPage.size))
            }
        }
        let from = old.range.start, to = target.range.start, length = old.length
        let worker = TestThread.spawn {
            let moved = ct_mremap_fixed(UnsafeMutableRawPointer(bitPattern: from), length, UnsafeMutableRawPointer(bitPattern: to))
            #expect(moved == UnsafeMutableRawPointer(bitPattern: to))
            #expect(touch(to + UInt(SystemPage.size)) == 0)
        }
        #expect(worker.join())
        server.finish()
        // The old addresses are a hole anyone may reuse; the pages live in `target` now.
        old.relinquish(old.range)
        let events = server.events
        #expect(events.count == 2)
        guard events.count == 2 else { return }
        if case .remap(let f, let t, let l) = events[0] {
            #expect(f == from && t == to && l == length)
        } else { Issue.record("first event: \(events[0])") }
        if case .pageFault(let fault) = events[1] { #expect(fault.address == to + UInt(SystemPage.size)) }
        else { Issue.record("second event: \(events[1])") }
    }

    @Test("fork delivers the child's userfaultfd, which then serves the child's faults",
          // TSan's fork() interceptor holds the sanitizer's own locks until
          // fork returns, and with EVENT_FORK fork returns only after the
          // monitor thread, which needs those locks, has read the event.
          .disabled(if: BuildFlavor.threadSanitizer, "deadlocks inside ThreadSanitizer's fork interceptor (UFFD_FEATURE_EVENT_FORK)"))
    func fork() throws {
        // The EVENT_FORK descriptor below must not meet another test's fork.
        try whileHoldingForkLock { try forkAndServeChild() }
    }

    private func forkAndServeChild() throws {
        let uffd = try Userfaultfd(features: [.eventFork])
        let region = try MemoryMapping(anonymousLength: 2 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(byte: 0xAB)
        let child = LockedValue<Userfaultfd?>(nil)
        let server = try FaultServer(uffd) { event throws in
            if case .fork(let descriptor) = event { child.withLock { $0 = descriptor } }
        }
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        let address = region.range.start
        let pidBox = Atomic<Int32>(0)
        // fork() returns in the parent only once the monitor has read the event.
        let forker = TestThread.spawn {
            let pid = Glibc.fork()
            if pid == 0 {
                // Child: only async-signal-safe calls. Fault on the page, report it.
                var byte = UnsafeRawPointer(bitPattern: address)!.load(as: UInt8.self)
                _ = write(writeEnd, &byte, 1)
                _exit(0)
            }
            pidBox.store(pid, ordering: .releasing)
        }
        #expect(forker.join())
        server.finish()
        close(writeEnd)
        let childUffd = try #require(child.withLock { $0 })
        #expect(childUffd.features == uffd.features)
        // Serve the child's fault through its own descriptor.
        #expect(try childUffd.waitForEvents(timeout: .seconds(10)) == .readable)
        var buffer = EventBuffer()
        try childUffd.readEvents(into: &buffer) { event throws in
            guard case .pageFault(let fault) = event else { Issue.record("child event \(event)"); return }
            #expect(fault.address == address)
            let outcome = try childUffd.copy(to: MemoryRange(start: fault.address, length: SystemPage.size), from: source.pointer)
            #expect(outcome == .resolved)
        }
        var byte: UInt8 = 0
        #expect(read(readEnd, &byte, 1) == 1)
        #expect(byte == 0xAB)
        close(readEnd)
        var status: Int32 = 0
        #expect(waitpid(pidBox.load(ordering: .acquiring), &status, 0) > 0)
        #expect(status == 0)
        // The parent's own page was never touched: still missing here.
        #expect(try uffd.zeroPage(region.range.pages(0, count: 1)) == .resolved)
    }
}
