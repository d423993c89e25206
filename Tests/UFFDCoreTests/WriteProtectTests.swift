import Synchronization
import Testing
import UFFDCore
import Watchdog

@Suite("Write-protect faults", .watchdog)
struct WriteProtectTests {
    @Test("a write to a write-protected page faults with the WP flag; un-protecting lets it finish")
    func writeProtect() throws {
        let uffd = try Userfaultfd(features: [.pageFaultFlagWP])
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        let ioctls = try uffd.register(region.range, mode: [.missing, .writeProtect])
        #expect(ioctls.contains(.writeProtect))
        let source = PageSource(pages: 4, byte: 1)
        #expect(try uffd.copy(to: region.range, from: source.pointer) == .resolved)
        try uffd.writeProtect(region.range, enabled: true)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            #expect(fault.flags.isSuperset(of: [.writeProtect, .write]))
            try uffd.writeProtect(MemoryRange(start: fault.address, length: SystemPage.size), enabled: false)
        }
        let target = region.range.pages(3, count: 1).start
        let worker = TestThread.spawn {
            #expect(touch(region.range.start) == 1)  // reads do not fault
            UnsafeMutableRawPointer(bitPattern: target)!.storeBytes(of: 9, as: UInt8.self)
        }
        #expect(worker.join())
        server.finish()
        #expect(server.faults.map(\.address) == [target])
        #expect(touch(target) == 9)
    }

    @Test("COPY with the WP mode places a page that is write-protected at once")
    func copyWriteProtected() throws {
        let uffd = try Userfaultfd(features: [.pageFaultFlagWP])
        let region = try MemoryMapping(anonymousLength: SystemPage.size)
        try uffd.register(region.range, mode: [.missing, .writeProtect])
        let source = PageSource(byte: 4)
        #expect(try uffd.copy(to: region.range, from: source.pointer, mode: .writeProtect) == .resolved)
        let server = try FaultServer(uffd) { event throws in
            guard case .pageFault(let fault) = event else { return }
            try uffd.writeProtect(MemoryRange(start: fault.address, length: SystemPage.size), enabled: false)
        }
        let address = region.range.start
        let worker = TestThread.spawn { UnsafeMutableRawPointer(bitPattern: address)!.storeBytes(of: 5, as: UInt8.self) }
        #expect(worker.join())
        server.finish()
        #expect(server.faults.count == 1 && server.faults.first?.flags.contains(.writeProtect) == true)
    }
}
