import Testing
import UFFDCore
import Watchdog

@Suite("Registering ranges", .watchdog)
struct RegisterTests {
    @Test("MISSING registration reports the resolving ioctls of an anonymous range")
    func registerMissing() throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 8 * SystemPage.size)
        let ioctls = try uffd.register(region.range, mode: .missing)
        #expect(ioctls.isSuperset(of: [.copy, .zeroPage, .wake]), "\(ioctls)")
        try uffd.unregister(region.range)
        // Unregistered, a touch is an ordinary anonymous fault again.
        #expect(touch(region.range.start) == 0)
    }

    @Test("an unaligned start, an unaligned length or an empty range is refused before the syscall",
          arguments: [(1, 4096), (4096, 100), (0, 0)])
    func misaligned(offset: Int, length: Int) throws {
        let uffd = try Userfaultfd()
        let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
        let range = MemoryRange(start: region.range.start + UInt(offset), length: length)
        let error = try #require(throws: UFFDError.self) { try uffd.register(range, mode: .missing) }
        #expect(error.reason == .misaligned)
        #expect(error.range == range)
        #expect("\(error)".contains("multiples of the page size"))
        // The same check guards every ranged operation.
        let zeroError = try #require(throws: UFFDError.self) { try uffd.zeroPage(range) }
        #expect(zeroError.operation == .zeroPage && zeroError.reason == .misaligned)
    }

    @Test("a range that is not mapped is refused by the kernel with EINVAL, naming the range")
    func unmappedRange() throws {
        let uffd = try Userfaultfd()
        let range: MemoryRange
        do {
            let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
            range = region.range
        }  // unmapped here
        let error = try #require(throws: UFFDError.self) { try uffd.register(range, mode: .missing) }
        #expect(error.errno == .invalidArgument)
        #expect("\(error)".hasPrefix("UFFDIO_REGISTER [0x"))
    }
}
