#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import CTestSupport
import Testing
import UFFDCore
import Watchdog

@Suite("Resolving MISSING faults: ZEROPAGE, COPY, WAKE and their outcomes", .watchdog)
struct ResolveTests {
    @Test("a read fault resolved with ZEROPAGE reads zero; a second ZEROPAGE is EEXIST")
    func zeroPage() throws {
        let uffd = try Userfaultfd(features: [.threadID])
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            #expect(try uffd.zeroPage(MemoryRange(start: fault.address, length: SystemPage.size)) == .resolved)
        }
        let address = region.range.start + UInt(2 * SystemPage.size)
        let readerID = Atomic<Int32>(0)
        let reader = TestThread.spawn {
            readerID.store(ct_gettid(), ordering: .relaxed)
            #expect(touch(address + 17) == 0)
        }
        #expect(reader.join())
        server.finish()
        let faults = server.faults
        #expect(faults.count == 1)
        #expect(faults.first?.address == address)
        #expect(faults.first?.flags.contains(.write) == false)
        #expect(faults.first?.threadID == readerID.load(ordering: .relaxed))
        #expect(try uffd.zeroPage(region.range.pages(2, count: 1)) == .alreadyPresent)
    }

    @Test("one ZEROPAGE maps a whole 512-page run: no page of it faults afterwards")
    func zeroPageRun() throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 512 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        #expect(try uffd.zeroPage(region.range) == .resolved)
        let server = try FaultServer(uffd) { _ in Issue.record("unexpected event after ZEROPAGE") }
        let reader = TestThread.spawn {
            for page in 0..<512 { #expect(touch(region.range.start + UInt(page * SystemPage.size)) == 0) }
        }
        #expect(reader.join())
        server.finish()
        #expect(server.events.isEmpty)
    }

    @Test("a write fault resolved with COPY sees the copied bytes; a second COPY is EEXIST")
    func copy() throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(byte: 0x5A)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            #expect(fault.flags.contains(.write))
            #expect(try uffd.copy(to: MemoryRange(start: fault.address, length: SystemPage.size), from: source.pointer) == .resolved)
        }
        let address = region.range.start + UInt(SystemPage.size)
        let writer = TestThread.spawn {
            // The write faults first; the kernel then retries it on the copied page.
            UnsafeMutableRawPointer(bitPattern: address + 1)!.storeBytes(of: 0x11, as: UInt8.self)
        }
        #expect(writer.join())
        server.finish()
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: address), count: SystemPage.size)
        #expect(bytes[0] == 0x5A && bytes[1] == 0x11 && bytes[2...].allSatisfy { $0 == 0x5A })
        #expect(try uffd.copy(to: region.range.pages(1, count: 1), from: source.pointer) == .alreadyPresent)
    }

    @Test("COPY over a run with a present page in it reports the partial count, never -EAGAIN as bytes")
    func partialCopy() throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(pages: 4, byte: 0xC3)
        #expect(try uffd.zeroPage(region.range.pages(2, count: 1)) == .resolved)
        // Pages 0 and 1 are copied, then the kernel stops at the present page 2.
        #expect(try uffd.copy(to: region.range, from: source.pointer) == .partial(bytes: 2 * SystemPage.size))
        #expect(try uffd.copy(to: region.range.pages(2, count: 2), from: source.pointer) == .alreadyPresent)
        #expect(try uffd.copy(to: region.range.pages(3, count: 1), from: source.pointer) == .resolved)
        #expect(page(at: region.range.start, isAll: 0xC3))
        #expect(page(at: region.range.pages(1, count: 1).start, isAll: 0xC3))
        #expect(page(at: region.range.pages(2, count: 1).start, isAll: 0))
        #expect(page(at: region.range.pages(3, count: 1).start, isAll: 0xC3))
    }

    @Test("while an madvise event is unread, COPY says retryLater (EAGAIN with no progress)")
    func retryLaterWhileAddressSpaceChanges() throws {
        let uffd = try Userfaultfd(features: [.eventRemove])
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(byte: 7)
        #expect(try uffd.copy(to: region.range.pages(0, count: 1), from: source.pointer) == .resolved)
        let base = region.range.start
        // madvise blocks until its REMOVE event is read; until then the mm is "changing".
        let dropper = TestThread.spawn {
            #expect(madvise(UnsafeMutableRawPointer(bitPattern: base), SystemPage.size, MADV_DONTNEED) == 0)
        }
        #expect(try uffd.waitForEvents(timeout: .seconds(10)) == .readable)
        #expect(try uffd.copy(to: region.range.pages(1, count: 1), from: source.pointer) == .retryLater)
        var buffer = EventBuffer()
        var removed: [MemoryRange] = []
        try uffd.readEvents(into: &buffer) { event throws in
            if case .remove(let range) = event { removed.append(range) }
        }
        #expect(removed == [region.range.pages(0, count: 1)])
        #expect(dropper.join())
        #expect(try uffd.copy(to: region.range.pages(1, count: 1), from: source.pointer) == .resolved)
    }

    @Test("COPY with dontWake leaves the faulting thread asleep until WAKE")
    func dontWakeThenWake() throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 2 * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let source = PageSource(byte: 0x33)
        let placed = Atomic<Bool>(false)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            #expect(try uffd.copy(to: MemoryRange(start: fault.address, length: SystemPage.size), from: source.pointer,
                                  mode: .dontWake) == .resolved)
            placed.store(true, ordering: .releasing)
        }
        let done = Atomic<Bool>(false)
        let address = region.range.start
        let reader = TestThread.spawn {
            #expect(touch(address) == 0x33)
            done.store(true, ordering: .releasing)
        }
        while !placed.load(ordering: .acquiring) { usleep(1000) }
        usleep(100_000)  // ample time for a wrongly woken reader to finish
        let finishedEarly = done.load(ordering: .acquiring)
        #expect(!finishedEarly, "the reader was woken without WAKE")
        try uffd.wake(region.range.pages(0, count: 1))
        #expect(reader.join())
        let finished = done.load(ordering: .acquiring)
        #expect(finished)
        server.finish()
    }
}
