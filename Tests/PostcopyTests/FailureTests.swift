#if canImport(Glibc)
import Glibc
#endif
import CTestSupport
import Foundation
import PostcopyDest
import PostcopyWire
import Testing
import UFFDCore

@Suite("A source that dies mid-migration")
struct FailureTests {
    @Test("the destination reports what arrived, poisons the rest, and a thread touching a missing page gets SIGBUS")
    func killedSource() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postcopy-kill-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 256 MiB of data: long enough to stream that the kill lands mid-way.
        let image = "\(directory)/image", pages = 65_536
        let fd = open(image, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        try #require(fd >= 0)
        let chunk = [UInt8](repeating: 0x5C, count: 1 << 20)
        for _ in 0..<((pages * SystemPage.size) >> 20) { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        close(fd)

        let source = Process()
        source.executableURL = URL(fileURLWithPath: postcopyExecutable())
        source.arguments = ["source", "--listen", "unix:\(directory)/s.sock", "--image", image, "--no-zero-scan", "--log-level", "error"]
        try source.run()
        var configuration = PostcopyDestination.Configuration()
        configuration.connectTimeout = .seconds(20)
        let destination = try PostcopyDestination.connect(to: .unix(path: "\(directory)/s.sock"), configuration: configuration)
        kill(source.processIdentifier, SIGKILL)
        source.waitUntilExit()

        let failure = try #require(throws: DestinationFailure.self) { try destination.waitForCompletion() }
        #expect(failure.pageCount == pages)
        #expect(failure.pagesHeld < pages, "the migration finished before the kill; make the image larger")
        #expect(failure.held.count == failure.pagesHeld)
        #expect(failure.pagesPoisoned == pages - failure.pagesHeld)
        #expect("\(failure)".contains("poisoned"))

        // A forked child shares the region's page tables (poison markers
        // included): touching a missing page must kill it with SIGBUS, a
        // received page must read the source's bytes.
        let missing = try #require(failure.held.firstClear(from: 0))
        #expect(childTouching(destination.region.start + UInt(missing * SystemPage.size)) == .signal(SIGBUS))
        if let received = failure.held.firstSet(from: 0) {
            #expect(childTouching(destination.region.start + UInt(received * SystemPage.size)) == .exit(0x5C))
        }
    }

    enum ChildEnd: Equatable { case exit(Int32), signal(Int32) }

    /// Forks a child that reads one byte at `address` and exits with it.
    func childTouching(_ address: UInt) -> ChildEnd {
        let pid = whileHoldingForkLock { fork() }
        if pid == 0 {
            // Only async-signal-safe work in the child of a threaded process.
            _exit(Int32(UnsafeRawPointer(bitPattern: address)!.load(as: UInt8.self)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? .exit((status >> 8) & 0xff) : .signal(status & 0x7f)
    }
}
