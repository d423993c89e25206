#if canImport(Glibc)
import Glibc
#endif
import PostcopyDest
import PostcopySource
import PostcopyWire
import SystemCalls
import Testing
import UFFDCore
import Watchdog

/// A scripted peer speaking the wire protocol to a real source or destination.
enum Peer {
    /// Connects to a source as a destination would, up to READY.
    static func joinSource(_ endpoint: Endpoint) throws -> (urgent: FramedSocket, bulk: FramedSocket, geometry: Geometry) {
        let urgent = try FramedSocket.connect(to: endpoint, lane: .urgent, timeout: .seconds(10))
        try urgent.send(.join(Join(lane: .urgent, session: 0)))
        guard case .hello(let hello) = try urgent.receive() else { throw PeerError.script("expected HELLO") }
        urgent.geometry = hello.geometry
        let bulk = try FramedSocket.connect(to: endpoint, lane: .bulk, timeout: .seconds(10))
        bulk.geometry = hello.geometry
        try bulk.send(.join(Join(lane: .bulk, session: hello.session)))
        try urgent.send(.ready)
        return (urgent, bulk, hello.geometry)
    }

    /// Accepts a destination as a source would, up to READY.
    static func acceptDestination(_ listener: Listener, geometry: Geometry) throws -> (urgent: FramedSocket, bulk: FramedSocket) {
        let urgent = try listener.accept()
        guard case .join = try urgent.receive() else { throw PeerError.script("expected JOIN") }
        urgent.geometry = geometry
        try urgent.send(.hello(Hello(geometry: geometry, features: [.skipBitmap, .zeroReplies], session: 7)))
        let bulk = try listener.accept()
        guard case .join(let join) = try bulk.receive(), join.session == 7 else { throw PeerError.script("expected bulk JOIN") }
        bulk.geometry = geometry
        guard case .ready = try urgent.receive() else { throw PeerError.script("expected READY") }
        return (urgent, bulk)
    }

    /// Writes raw bytes, bypassing the encoder: frames no encoder would make.
    static func writeRaw(_ socket: FramedSocket, _ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { send(socket.descriptor.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(written == bytes.count)
    }

    /// A frame header: body length, type, zero flags and zero skip.
    static func header(bodyLength: Int, type: UInt8) -> [UInt8] {
        le(UInt32(bodyLength)) + [type, 0, 0, 0]
    }

    /// Reads frames until the peer's ERROR arrives; its reason, or nil if
    /// the connection ended another way.
    static func errorReason(_ socket: FramedSocket) -> String? {
        while true {
            do {
                _ = try socket.receive()
            } catch {
                if case .remote(_, let reason) = error { return reason }
                return nil
            }
        }
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

enum PeerError: Error { case script(String) }

/// A peer script running on its own thread, with its outcome kept for the test.
final class PeerThread: Sendable {
    private let thread: DedicatedThread
    private let box = Box()
    private final class Box: Sendable { let failure = LockedValue<String?>(nil) }

    init(_ script: @escaping @Sendable () throws -> Void) {
        let box = self.box
        thread = DedicatedThread(name: "peer") {
            do { try script() } catch { box.failure.withLock { $0 = "\(error)" } }
        }
    }

    /// Joins; returns the script's error, if any.
    func finish() -> String? {
        thread.join()
        return box.failure.withLock { $0 }
    }
}

@Suite("The sides against a scripted peer: ZERO replies, completion, EEXIST, malformed frames", .watchdog)
struct ProtocolPeerTests {
    @Test("the source answers a request for a skipped page with ZERO and for a data page with its bytes")
    func sourceAnswersRequests() throws {
        let region = try TestRegion(pages: 64, free: [10..<20])
        // No stream: every data page travels as a reply, so which lane carries page 30 is certain.
        var configuration = PostcopySource.Configuration()
        configuration.backgroundStream = false
        let source = try ServingSource(region, configuration: configuration)
        let (urgent, _, geometry) = try Peer.joinSource(source.endpoint)
        let pageSize = geometry.pageSize
        try urgent.send(.request(offsets: [12 * pageSize, 30 * pageSize]))
        var zeroReply = false, dataReply = false
        while !(zeroReply && dataReply) {
            switch try urgent.receive() {
            case .zero(let offset, let count):
                #expect(offset == 12 * pageSize && count == 1)
                zeroReply = true
            case .pages(let offset, let count, let isReply):
                #expect(offset == 30 * pageSize && count == 1 && isReply)
                #expect(memcmp(urgent.pageData.baseAddress!, region.mapping.page(30), pageSize) == 0)
                dataReply = true
            case .bitmap: continue
            case let other: Issue.record("unexpected \(other)")
            }
        }
        // Ask for the rest, then complete.
        let rest = Array(0..<10) + Array(20..<30) + Array(31..<64)
        try urgent.send(.request(offsets: rest.map { $0 * pageSize }))
        var replied = Set<Int>()
        while replied.count < rest.count {
            guard case .pages(let offset, let count, true) = try urgent.receive() else { continue }
            #expect(memcmp(urgent.pageData.baseAddress!, region.mapping.page(offset / pageSize), count * pageSize) == 0)
            replied.formUnion((offset / pageSize)..<(offset / pageSize + count))
        }
        #expect(replied == Set(rest))
        try urgent.send(.complete(pagesHeld: 64))
        guard case .done = try urgent.receive() else { Issue.record("expected DONE"); return }
        let report = try source.finish()
        #expect(report.zeroReplies == 1)
        #expect(report.pagesRequested == 54)
        #expect(report.pagesStreamed == 0)
    }

    @Test("a request for a streamed page gets a second copy only if less than 256 KiB was streamed after it",
          arguments: [(page: 40, copied: false), (page: 250, copied: true)])
    func secondCopyOnlyForRecentPages(page: Int, copied: Bool) throws {
        // 246 data pages stream in order, in frames 0..<10, 20..<84, 84..<148,
        // 148..<212, 212..<256: 688 KiB follow page 40, nothing follows page 250.
        let region = try TestRegion(pages: 256, free: [10..<20])
        let source = try ServingSource(region)
        let (urgent, bulk, geometry) = try Peer.joinSource(source.endpoint)
        let pageSize = geometry.pageSize
        var streamed = Set<Int>()
        while streamed.count < 246 {
            guard case .pages(let offset, let count, false) = try bulk.receive() else { continue }
            streamed.formUnion((offset / pageSize)..<(offset / pageSize + count))
        }
        // A skipped page behind it in the same REQUEST gets a ZERO reply, and
        // replies keep the request's order: a copy would arrive before it.
        try urgent.send(.request(offsets: [page * pageSize, 15 * pageSize]))
        var frame = try urgent.receive()
        if case .bitmap = frame { frame = try urgent.receive() }
        if copied {
            #expect(frame == .pages(offset: page * pageSize, count: 1, isReply: true))
            #expect(memcmp(urgent.pageData.baseAddress!, region.mapping.page(page), pageSize) == 0)
            frame = try urgent.receive()
        }
        #expect(frame == .zero(offset: 15 * pageSize, count: 1))
        try urgent.send(.complete(pagesHeld: 256))
        guard case .done = try urgent.receive() else { Issue.record("expected DONE"); return }
        let report = try source.finish()
        #expect(report.requestsForPagesSent == (copied ? 0 : 1))
        #expect(report.duplicatePages == (copied ? 1 : 0))
        #expect(report.pagesStreamed == 246)
    }

    @Test("the source does not exit before COMPLETE, even with nothing left to send")
    func sourceWaitsForComplete() throws {
        let region = try TestRegion(pages: 32)
        let source = try ServingSource(region)
        let (urgent, bulk, geometry) = try Peer.joinSource(source.endpoint)
        var received = 0
        while received < 32 {
            if case .pages(_, let count, _) = try bulk.receive() { received += count }
        }
        usleep(300_000)  // the stream is long done; the source must still be waiting
        #expect(!source.hasFinished)
        try urgent.send(.complete(pagesHeld: geometry.pageCount))
        var frame = try urgent.receive()
        if case .bitmap = frame { frame = try urgent.receive() }
        guard case .done = frame else { Issue.record("expected DONE, got \(frame)"); return }
        #expect(try source.finish().pagesStreamed == 32)
    }

    @Test("a COMPLETE before every page was sent is refused, and the destination is told why")
    func completeTooEarly() throws {
        let region = try TestRegion(pages: 20_000)
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = 1
        let source = try ServingSource(region, configuration: configuration)
        // The bulk lane stays open (unread), as a real destination's would.
        let (urgent, bulk, geometry) = try Peer.joinSource(source.endpoint)
        try urgent.send(.complete(pagesHeld: geometry.pageCount))
        let error = try #require(throws: SourceError.self) { try source.finish() }
        guard case .completeTooEarly(let unsent) = error else { Issue.record("\(error)"); return }
        #expect(unsent > 0)
        let reason = Peer.errorReason(urgent)  // after the bitmap
        #expect(reason?.contains("never sent") == true, "\(String(describing: reason))")
        withExtendedLifetime(bulk) {}
    }

    @Test("a page both streamed and requested is placed once; the second copy is EEXIST")
    func duplicatePlacement() throws {
        let pages = 8
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: pages)
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let content = UnsafeMutableRawPointer.allocate(byteCount: pages * SystemPage.size, alignment: SystemPage.size)
        defer { content.deallocate() }
        for page in 0..<pages { content.advanced(by: page * SystemPage.size).initializeMemory(as: UInt8.self, repeating: UInt8(page + 1), count: SystemPage.size) }
        let data = UnsafeRawBufferPointer(start: content, count: pages * SystemPage.size)
        nonisolated(unsafe) let shared = data
        let peer = PeerThread {
            let (urgent, bulk) = try Peer.acceptDestination(listener, geometry: geometry)
            guard case .request(let offsets) = try urgent.receive(), offsets == [3 * SystemPage.size] else {
                throw PeerError.script("expected a request for page 3")
            }
            let page3 = UnsafeRawBufferPointer(rebasing: shared[(3 * SystemPage.size)..<(4 * SystemPage.size)])
            try bulk.sendPages(offset: 3 * SystemPage.size, count: 1, isReply: false, data: page3)
            try urgent.sendPages(offset: 3 * SystemPage.size, count: 1, isReply: true, data: page3)
            try bulk.sendPages(offset: 0, count: pages, isReply: false, data: shared)
            guard case .complete(let held) = try urgent.receive(), held == pages else { throw PeerError.script("expected COMPLETE") }
            try urgent.send(.done)
        }
        let destination = try PostcopyDestination.connect(to: listener.endpoint)
        touchPages(destination.region, [[3]])
        let report = try destination.waitForCompletion()
        #expect(peer.finish() == nil)
        #expect(report.pagesRequested == 1)
        // Page 3 arrived three times (streamed, as the reply, in the full run):
        // placed once, EEXIST twice. Every other page arrived once.
        #expect(report.duplicatePages == 2)
        for page in 0..<pages {
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: destination.region.start + UInt(page * SystemPage.size)),
                                               count: SystemPage.size)
            #expect(bytes.allSatisfy { $0 == UInt8(page + 1) }, "page \(page)")
        }
    }

    @Test("a PAGES frame outside the region ends the destination with offsetOutOfRange and tells the source")
    func destinationRejectsOutOfRangePages() throws {
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: 4)
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let peerSaw = LockedValue<String?>(nil)
        let peer = PeerThread {
            let (urgent, bulk) = try Peer.acceptDestination(listener, geometry: geometry)
            // Page 4: just past the end of a 4-page region.
            let body = Peer.le(UInt32(4)) + [UInt8](repeating: 0xAB, count: SystemPage.size)
            Peer.writeRaw(bulk, Peer.header(bodyLength: body.count, type: 5) + body)
            let reason = Peer.errorReason(urgent)
            peerSaw.withLock { $0 = reason }
        }
        let destination = try PostcopyDestination.connect(to: listener.endpoint)
        let failure = try #require(throws: DestinationFailure.self) { try destination.waitForCompletion() }
        #expect(failure.cause as? WireError
                == .offsetOutOfRange(offset: UInt64(4 * SystemPage.size), count: 1, regionLength: 4 * SystemPage.size))
        #expect(failure.pagesHeld == 0 && failure.pagesPoisoned == 4)
        _ = peer.finish()
        #expect(peerSaw.withLock { $0 }?.contains("offset") == true)
    }

    @Test("a REQUEST past the region ends the source with offsetOutOfRange and tells the destination")
    func sourceRejectsOutOfRangeRequest() throws {
        let region = try TestRegion(pages: 16)
        let source = try ServingSource(region)
        let (urgent, _, _) = try Peer.joinSource(source.endpoint)
        let body = Peer.le(UInt32(16))
        Peer.writeRaw(urgent, Peer.header(bodyLength: body.count, type: 7) + body)
        let length = 16 * SystemPage.size
        #expect(throws: WireError.offsetOutOfRange(offset: UInt64(length), count: 1, regionLength: length)) {
            try source.finish()
        }
        let reason = Peer.errorReason(urgent)
        #expect(reason?.contains("\(length)") == true, "\(String(describing: reason))")
    }

    @Test("a HELLO with a bad magic number fails the destination's connect with badMagic")
    func badMagic() throws {
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let peer = PeerThread {
            let urgent = try listener.accept()
            _ = try urgent.receive()
            var body = Peer.le(UInt32(0xDEAD_BEEF)) + Peer.le(Wire.version) + Peer.le(UInt16(0))
            body += Peer.le(UInt32(SystemPage.size)) + Peer.le(UInt32(0)) + Peer.le(UInt64(SystemPage.size * 4))
            body += Peer.le(UInt64(0)) + Peer.le(UInt64(1))
            Peer.writeRaw(urgent, Peer.header(bodyLength: body.count, type: 2) + body)
            _ = try? urgent.receive()
        }
        #expect(throws: WireError.badMagic(0xDEAD_BEEF)) { _ = try PostcopyDestination.connect(to: listener.endpoint) }
        _ = peer.finish()
    }
}

@Suite("Source configuration", .watchdog)
struct SourceConfigurationTests {
    @Test("a background batch no frame can carry is refused up front", arguments: [0, 4097])
    func badBatch(pages: Int) throws {
        let region = try TestRegion(pages: 16)
        var configuration = PostcopySource.Configuration()
        configuration.streamBatchPages = pages
        let maximum = (FrameLimits().maxBodyLength - 16) / SystemPage.size  // 16 MiB of pages per frame
        #expect(throws: SourceError.badBatchSize(pages, maximum: maximum)) {
            _ = try PostcopySource(region: SourceRegion(memory: region.mapping.base, length: region.mapping.length),
                                   configuration: configuration)
        }
    }
}
