import PostcopyDest
import PostcopyWire
import Testing
import UFFDCore
import Watchdog

@Suite("The bulk lane's pieces at the stream's front", .watchdog)
struct FrontPiecesTests {
    @Test("a streamed frame holding a page a thread waits on turns on small pieces; with no thread waiting, none are cut",
          arguments: [true, false])
    func frontPieces(threadWaits: Bool) throws {
        let pages = 256
        let geometry = try Geometry(pageSize: SystemPage.size, pageCount: pages)
        let listener = try Listener(endpoint: .tcp(host: "127.0.0.1", port: 0))
        let content = UnsafeMutableRawPointer.allocate(byteCount: pages * SystemPage.size, alignment: SystemPage.size)
        defer { content.deallocate() }
        for page in 0..<pages {
            content.advanced(by: page * SystemPage.size).initializeMemory(as: UInt8.self, repeating: UInt8(page % 251 + 1), count: SystemPage.size)
        }
        nonisolated(unsafe) let data = UnsafeRawBufferPointer(start: content, count: pages * SystemPage.size)
        let peer = PeerThread {
            let (urgent, bulk) = try Peer.acceptDestination(listener, geometry: geometry)
            if threadWaits {
                // The thread's request is recorded before it is sent: the
                // frame below arrives after the destination knows of it.
                guard case .request(let offsets) = try urgent.receive(), offsets == [100 * SystemPage.size] else {
                    throw PeerError.script("expected a request for page 100")
                }
            }
            // Streamed, not a reply: page 100 is in the second 16-page piece.
            for range in [80..<144, 144..<208, 0..<80, 208..<256] {
                let bytes = UnsafeRawBufferPointer(rebasing: data[(range.lowerBound * SystemPage.size)..<(range.upperBound * SystemPage.size)])
                try bulk.sendPages(offset: range.lowerBound * SystemPage.size, count: range.count, isReply: false, data: bytes)
            }
            guard case .complete(let held) = try urgent.receive(), held == pages else { throw PeerError.script("expected COMPLETE") }
            try urgent.send(.done)
        }
        var configuration = PostcopyDestination.Configuration()
        configuration.eagerZeroMap = false
        let destination = try PostcopyDestination.connect(to: listener.endpoint, configuration: configuration)
        if threadWaits { touchPages(destination.region, [[100]]) }
        let report = try destination.waitForCompletion()
        #expect(peer.finish() == nil)
        if threadWaits {
            #expect(report.piecesAtFront >= 1)
        } else {
            #expect(report.piecesAtFront == 0)
        }
        for page in [0, 100, 143, 144, 255] {
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: destination.region.start + UInt(page * SystemPage.size)),
                                               count: SystemPage.size)
            #expect(bytes.allSatisfy { $0 == UInt8(page % 251 + 1) }, "page \(page)")
        }
    }
}
