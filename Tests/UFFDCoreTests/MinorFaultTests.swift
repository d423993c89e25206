#if canImport(Glibc)
import Glibc
#endif
import SystemPackage
import CTestSupport
import Testing
import UFFDCore
import Watchdog

@Suite("MINOR faults on shmem, resolved with CONTINUE", .watchdog)
struct MinorFaultTests {
    @Test("a page in the memfd's page cache faults MINOR through the registered mapping; CONTINUE maps it")
    func minorContinue() throws {
        let pages = 8
        let fd = ct_memfd_create("uffd-minor-test")
        try #require(fd >= 0)
        let file = FileDescriptor(rawValue: fd)
        defer { try? file.close() }
        #expect(ftruncate(fd, off_t(pages * SystemPage.size)) == 0)
        // Two views of one file: the registered one faults; the other fills the page cache.
        let registered = try MemoryMapping(sharing: file, length: pages * SystemPage.size)
        let backing = try MemoryMapping(sharing: file, length: pages * SystemPage.size)

        let uffd = try Userfaultfd(features: [.minorShmem])
        let ioctls = try uffd.register(registered.range, mode: .minor)
        #expect(ioctls.contains(.continue))
        fill(backing.page(5), 0x77)

        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            #expect(fault.flags.contains(.minor))
            let outcome = try uffd.`continue`(MemoryRange(start: fault.address, length: SystemPage.size))
            #expect(outcome == .resolved)
        }
        let address = UInt(bitPattern: registered.page(5))
        let reader = TestThread.spawn { #expect(page(at: address, isAll: 0x77)) }
        #expect(reader.join())
        server.finish()
        #expect(server.faults.map(\.address) == [address])
        // Mapped now: CONTINUE again finds it present.
        #expect(try uffd.`continue`(MemoryRange(start: address, length: SystemPage.size)) == .alreadyPresent)
    }
}
