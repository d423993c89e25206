#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import UFFDCore
import Watchdog

@Suite("Many threads faulting at once", .watchdog)
struct ConcurrentFaultTests {
    @Test("16 threads fault on their own pages and on one shared page: each sees its page, nobody hangs")
    func manyThreads() throws {
        let threads = 16, pagesEach = 64
        let pages = 1 + threads * pagesEach  // page 0 is shared by all
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        try uffd.register(region.range, mode: .missing)
        let base = region.range.start
        let staging = PageSource(byte: 0)
        let alreadyPresent = Atomic<Int>(0)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            // Stamp each page with its own index, so a page placed at the wrong
            // address would be seen by the thread that owns it.
            let index = Int(fault.address - base) / SystemPage.size
            staging.pointer.storeBytes(of: UInt32(index), as: UInt32.self)
            let outcome = try uffd.copy(to: MemoryRange(start: fault.address, length: SystemPage.size), from: staging.pointer)
            if outcome == .alreadyPresent { alreadyPresent.add(1, ordering: .relaxed) }
            #expect(outcome == .resolved || outcome == .alreadyPresent)
        }
        let workers = (0..<threads).map { thread in
            TestThread.spawn {
                #expect(UnsafeRawPointer(bitPattern: base)!.load(as: UInt32.self) == 0)
                for page in (1 + thread * pagesEach)..<(1 + (thread + 1) * pagesEach) {
                    let address = base + UInt(page * SystemPage.size)
                    #expect(UnsafeRawPointer(bitPattern: address)!.load(as: UInt32.self) == UInt32(page))
                }
            }
        }
        for worker in workers { #expect(worker.join()) }
        server.finish()
        let faults = server.faults
        // Every private page faulted exactly once; the shared page at least once.
        let privateFaults = faults.filter { $0.address != base }
        #expect(privateFaults.count == threads * pagesEach)
        #expect(Set(privateFaults.map(\.address)).count == threads * pagesEach)
        let sharedFaults = faults.count - privateFaults.count
        #expect(sharedFaults >= 1)
        // Every extra fault on the shared page found it already placed.
        #expect(alreadyPresent.load(ordering: .relaxed) == sharedFaults - 1)
    }
}
