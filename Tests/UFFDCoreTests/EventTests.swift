#if canImport(Glibc)
import Glibc
#endif
import CTestSupport
import SystemCalls
import Testing
@testable import UFFDCore
import SystemPackage
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

    @Test("fork delivers the child's userfaultfd to the monitor, another process, which then serves the child's faults")
    func fork() throws {
        // The forking process is a helper: with the monitor as a thread of the
        // forking process, fork() would wait for a read that waits for the
        // allocator's locks, which glibc holds until fork() returns.
        var ends: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        let monitor = ends[0]
        defer { close(monitor) }
        let helper: HelperProcess
        do {
            defer { close(ends[1]) }  // the helper has its own copy
            helper = try HelperProcess(["fork"], passing: ends[1])
        }
        var helperFinished = false
        defer { if !helperFinished { kill(helper.pid, SIGKILL); _ = helper.finish() } }

        // The helper's userfaultfd and the address of its region.
        try #require(readable(monitor, within: 10_000), "the helper sent no userfaultfd")
        var address: UInt64 = 0
        var received: Int32 = -1
        #expect(ct_receive_descriptor(monitor, &address, 8, &received) == 8)
        try #require(received >= 0, "the message carried no descriptor")
        // The kernel's API ioctls: what `Userfaultfd.init` would have recorded.
        let ioctls = try? Userfaultfd.kernelFeatures().ioctls
        let parent = Userfaultfd(adopting: FileDescriptor(rawValue: received), features: [.eventFork],
                                 ioctls: ioctls ?? [], handlesKernelFaults: true)
        try #require(ioctls != nil)
        let page = MemoryRange(start: UInt(address), length: SystemPage.size)

        // The helper's fork waits on this read.
        #expect(try parent.waitForEvents(timeout: .seconds(10)) == .readable)
        var buffer = EventBuffer()
        var child: Userfaultfd?
        _ = try parent.readEvents(into: &buffer) { event in
            guard case .fork(let descriptor) = event else { Issue.record("parent event \(event)"); return }
            child = descriptor
        }
        let childUffd = try #require(child)
        // A descriptor of its own in this process, not the parent's again.
        #expect(childUffd.descriptor.rawValue != parent.descriptor.rawValue)

        // The child's read faults on its own descriptor; serve it.
        let source = PageSource(byte: 0xAB)
        #expect(try childUffd.waitForEvents(timeout: .seconds(10)) == .readable)
        _ = try childUffd.readEvents(into: &buffer) { event throws in
            guard case .pageFault(let fault) = event else { Issue.record("child event \(event)"); return }
            #expect(fault.address == page.start)
            #expect(try childUffd.copy(to: page, from: source.pointer) == .resolved)
        }
        try #require(readable(monitor, within: 10_000), "the child sent no byte")
        var byte: UInt8 = 0
        #expect(read(monitor, &byte, 1) == 1)
        #expect(byte == 0xAB)

        // The helper's own page was never touched: still missing there.
        #expect(try parent.zeroPage(page) == .resolved)
        var done: UInt8 = 1
        #expect(write(monitor, &done, 1) == 1)
        let run = helper.finish()
        helperFinished = true
        #expect(run.output.contains("child wait status 0"), "\(run.output)")
        #expect(run.exitStatus == 0, "\(run.output)")
    }

    /// Whether `descriptor` becomes readable within `milliseconds`.
    private func readable(_ descriptor: Int32, within milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready == 1
        }
    }
}
