#if canImport(Glibc)
import Glibc
#endif
import Testing
import UFFDCore
import Watchdog

@Suite("UFFDIO_POISON", .watchdog)
struct PoisonTests {
    @Test("a thread touching a poisoned page dies of SIGBUS (in a child process)")
    func touchPoisonedPage() throws {
        let run = try runHelper(["poison"])
        #expect(run.output.contains("poisoned resolved"), "\(run)")
        #expect(!run.output.contains("survived"), "\(run)")
        #expect(run.signal == SIGBUS, "\(run)")
    }

    @Test("POISON fills missing pages only: a present page is EEXIST")
    func poisonOutcome() throws {
        let uffd = try Userfaultfd(features: [.poison])
        let region = try MemoryMapping(anonymousLength: 2 * SystemPage.size)
        let ioctls = try uffd.register(region.range, mode: .missing)
        #expect(ioctls.contains(.poison))
        #expect(try uffd.zeroPage(region.range.pages(0, count: 1)) == .resolved)
        #expect(try uffd.poison(region.range.pages(0, count: 1)) == .alreadyPresent)
        #expect(try uffd.poison(region.range.pages(1, count: 1)) == .resolved)
        #expect(try uffd.poison(region.range.pages(1, count: 1)) == .alreadyPresent)
    }
}
