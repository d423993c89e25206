#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Bitmaps
import PostcopyDest
import PostcopySource
import PostcopyWire
import Synchronization
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("A source that dies mid-migration", .watchdog)
struct FailureTests {
    @Test("after the recovery deadline the destination reports what arrived, poisons the rest, and a thread touching a missing page gets SIGBUS")
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
        configuration.recoveryDeadline = .seconds(2)
        let destination = try PostcopyDestination.connect(to: .unix(path: "\(directory)/s.sock"), configuration: configuration)
        kill(source.processIdentifier, SIGKILL)
        source.waitUntilExit()

        let failure = try #require(throws: DestinationFailure.self) { try destination.waitForCompletion() }
        #expect(failure.pageCount == pages)
        #expect(failure.pagesHeld < pages, "the migration finished before the kill; make the image larger")
        #expect(failure.held.count == failure.pagesHeld)
        #expect(failure.pagesPoisoned == pages - failure.pagesHeld)
        #expect("\(failure)".contains("poisoned"))
        // It tried to reconnect until the deadline, then gave up.
        guard case .sourceUnreachable(let seconds, let attempts, _, _)? = failure.cause as? DestinationError else {
            Issue.record("the failure is not the unreachable source: \(failure.cause)")
            return
        }
        #expect(seconds == 2 && attempts >= 1)

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
        let pid = fork()
        if pid == 0 {
            // Only async-signal-safe work in the child of a threaded process.
            // The expected SIGSEGV or SIGBUS kills it outright: Swift's crash
            // handler, built for whole processes, has no business in a child
            // of fork() that has one thread and the parent's locks.
            signal(SIGSEGV, SIG_DFL)
            signal(SIGBUS, SIG_DFL)
            _exit(Int32(UnsafeRawPointer(bitPattern: address)!.load(as: UInt8.self)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? .exit((status >> 8) & 0xff) : .signal(status & 0x7f)
    }
}

@Suite("fork() of the destination process", .watchdog)
struct ForkTests {
    @Test("while pages are missing a child gets no region (SIGSEGV, never zeros); once complete it inherits the data")
    func forkDuringAndAfter() throws {
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: 4)
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let content = PageSource(pages: 4, byte: 0x2A)
        let ready = DoneFlagForTest(), finish = DoneFlagForTest()
        let peer = PeerThread {
            let (urgent, bulk) = try Peer.acceptDestination(listener, geometry: geometry)
            ready.set()
            while !finish.isSet { usleep(1000) }  // hold every page back until the test has forked
            try bulk.sendPages(offset: 0, count: 4, isReply: false, data: content.bytes)
            guard case .complete = try urgent.receive() else { throw PeerError.script("expected COMPLETE") }
            try urgent.send(.done)
        }
        let destination = try PostcopyDestination.connect(to: listener.endpoint)
        while !ready.isSet { usleep(1000) }
        let page = destination.region.start + UInt(SystemPage.size)
        #expect(FailureTests().childTouching(page) == .signal(SIGSEGV))
        finish.set()
        _ = try destination.waitForCompletion()
        #expect(peer.finish() == nil)
        #expect(FailureTests().childTouching(page) == .exit(0x2A))
    }
}

/// A flag for test threads (Synchronization.Atomic in a class).
final class DoneFlagForTest: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Page-aligned bytes, all `byte`, kept alive for a peer thread.
final class PageSource: @unchecked Sendable {
    // @unchecked: written only in init.
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(pages: Int, byte: UInt8) {
        count = pages * SystemPage.size
        pointer = .allocate(byteCount: count, alignment: SystemPage.size)
        pointer.initializeMemory(as: UInt8.self, repeating: byte, count: count)
    }
    deinit { pointer.deallocate() }
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

@Suite("ERROR frames name who failed")
struct PeerReportTests {
    @Test("Frame.error(reporting:) gives the peer's mistakes protocolViolation, disagreements geometryMismatch, this side's failures internal",
          arguments: [
            (WireError.offsetUnaligned(offset: 100, pageSize: 4096), WireErrorCode.protocolViolation),
            (WireError.unsupportedVersion(1), .versionMismatch),
            (SourceError.completeTooEarly(pagesNotSent: 3), .protocolViolation),
            (SourceError.acceptTimedOut(lane: "bulk"), .internal),
            (DestinationError.doneBeforeComplete(held: 1, pageCount: 2), .protocolViolation),
            (DestinationError.pageSizeMismatch(source: 65536, local: 4096), .geometryMismatch),
            (DestinationError.system(operation: "UFFDIO_COPY", errno: 12), .internal),
            (RunLengthCodec.DecodeError.emptyInput, .protocolViolation),
            (CPUSet.ConfinementError.unavailable(requested: CPUSet([1023]), granted: nil), .internal),
          ] as [(any Error & Sendable, WireErrorCode)])
    func codes(error: any Error & Sendable, code: WireErrorCode) {
        guard case .error(let sent, let reason) = Frame.error(reporting: error) else { Issue.record("not ERROR"); return }
        #expect(sent == code.rawValue)
        #expect(reason == "\(error)")
    }

    @Test("A long reason is cut to 1024 UTF-8 bytes at a character boundary, so the frame can be sent")
    func longReason() throws {
        let error = SourceError.badFreeRangeLine(number: 1, text: String(repeating: "é", count: 700))
        guard case .error(_, let reason) = Frame.error(reporting: error) else { Issue.record("not ERROR"); return }
        #expect(reason.utf8.count <= 1024 && reason.utf8.count > 1020)
        let (source, destination) = try FramedSocket.pair()
        try source.send(Frame.error(reporting: error))
        #expect(throws: WireError.remote(code: WireErrorCode.internal.rawValue, reason: reason)) { try destination.receive() }
    }
}

@Suite("Regions the protocol cannot name")
struct RegionLimitTests {
    @Test("a region of more than 2^32 - 1 pages is refused when it is described, before any scanning")
    func tooManyPages() throws {
        // The refusal comes before the memory is read, so the length can
        // reach past the one page mapped here (a 16 TiB reservation fails
        // under ThreadSanitizer, whose shadow memory takes the address space).
        let page = try MemoryMapping(anonymousLength: SystemPage.size)
        let length = (Geometry.maxPageCount + 1) * SystemPage.size
        #expect(throws: WireError.badRegionLength(UInt64(length), pageSize: SystemPage.size)) {
            try SourceRegion(memory: page.base, length: length)
        }
    }
}
