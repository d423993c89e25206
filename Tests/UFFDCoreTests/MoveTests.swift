#if canImport(Glibc)
import Glibc
#endif
import Testing
import UFFDCore
import Watchdog

@Suite("UFFDIO_MOVE", .watchdog)
struct MoveTests {
    @Test("MOVE carries pages into missing destination pages and leaves the source unpopulated")
    func move() throws {
        let uffd = try Userfaultfd(features: [.move])
        let pages = 4
        let destination = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        let source = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        let ioctls = try uffd.register(destination.range, mode: .missing)
        #expect(ioctls.contains(.move))
        for index in 0..<pages { fill(source.page(index), UInt8(0x10 + index)) }

        #expect(try uffd.move(to: destination.range.pages(0, count: 3), from: source.range.start) == .resolved)
        for index in 0..<3 {
            #expect(page(at: UInt(bitPattern: destination.page(index)), isAll: UInt8(0x10 + index)))
        }
        // The moved-from pages are gone: reading them maps fresh zero pages.
        var residency = [UInt8](repeating: 0, count: pages)
        #expect(mincore(source.base, source.length, &residency) == 0)
        #expect(residency[0..<3].allSatisfy { $0 & 1 == 0 } && residency[3] & 1 == 1)
        #expect(page(at: source.range.start, isAll: 0))
        // A present destination page is EEXIST, and nothing moves.
        #expect(try uffd.move(to: destination.range.pages(0, count: 1), from: UInt(bitPattern: source.page(3))) == .alreadyPresent)
        #expect(page(at: UInt(bitPattern: source.page(3)), isAll: 0x13))
    }
}
