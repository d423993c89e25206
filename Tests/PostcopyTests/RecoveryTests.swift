#if canImport(Glibc)
import Glibc
#endif
import Foundation
import PostcopyDest
import PostcopySource
import PostcopyWire
import SeededRandom
import SystemCalls
import Testing
import UFFDCore
import Watchdog

/// Migrations through a proxy process that cuts every connection at random
/// points: both sides pause, the destination reconnects and resumes, and every
/// page ends correct.
@Suite("Recovery: connections cut at random points mid-migration", .watchdog)
struct RecoveryTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var cuts: Int
        /// Skipped pages as a bitmap (true) or as ZERO frames (option b).
        var sendSkipBitmap: Bool
        var streamBatchPages: Int
        var testDescription: String {
            "seed \(seed): \(cuts) cuts, \(sendSkipBitmap ? "bitmap" : "ZERO frames"), batches of \(streamBatchPages)"
        }
    }

    static let scenarios = [
        Scenario(seed: 1, cuts: 5, sendSkipBitmap: true, streamBatchPages: 64),
        Scenario(seed: 2, cuts: 8, sendSkipBitmap: false, streamBatchPages: 16),
        Scenario(seed: 3, cuts: 5, sendSkipBitmap: true, streamBatchPages: 256),
    ]

    @Test("every cut is survived: the destination reconnects, resumes, and every page ends correct",
          arguments: scenarios)
    func cutsAreSurvived(_ scenario: Scenario) throws {
        let directory = "/tmp/postcopy-recovery-\(getpid())-\(scenario.seed)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // 64 MiB: free runs, zero and untouched pages, the rest data.
        let pages = 16_384
        var random = SplitMix64(seed: scenario.seed)
        var free: [Range<Int>] = []
        var page = 0
        while page < pages {
            page += Int.random(in: 50...600, using: &random)
            let length = min(Int.random(in: 1...400, using: &random), max(0, pages - page))
            if length > 0 { free.append(page..<(page + length)) }
            page += length
        }
        let testRegion = try TestRegion(pages: pages, free: free,
                                        untouched: Set((0..<64).map { _ in Int.random(in: 0..<pages, using: &random) }),
                                        zero: Set((0..<64).map { _ in Int.random(in: 0..<pages, using: &random) }))
        var configuration = PostcopySource.Configuration()
        configuration.sendSkipBitmap = scenario.sendSkipBitmap
        configuration.streamBatchPages = scenario.streamBatchPages
        configuration.recoveryDeadline = .seconds(30)
        let source = try ServingSource(testRegion, endpoint: .unix(path: "\(directory)/source.sock"),
                                       configuration: configuration)

        // Cut points within the first 90% of the data that must travel, so
        // all of them fall inside the migration.
        let dataBytes = (pages - free.reduce(0) { $0 + $1.count }) * SystemPage.size
        let proxy = try CuttingProxyProcess(in: directory, cuts: scenario.cuts, within: dataBytes * 9 / 10,
                                            seed: scenario.seed)
        defer { proxy.stop() }

        var destinationConfiguration = PostcopyDestination.Configuration()
        destinationConfiguration.connectTimeout = .seconds(20)
        destinationConfiguration.recoveryDeadline = .seconds(30)
        let destination = try PostcopyDestination.connect(to: .unix(path: "\(directory)/proxy.sock"),
                                                          configuration: destinationConfiguration)
        // Threads fault on random pages while pages stream and links break.
        // (Should the migration fail, a thread touching a poisoned page
        // ends this process with SIGBUS: loudly.)
        let lists = (0..<4).map { _ in (0..<400).map { _ in Int.random(in: 0..<pages, using: &random) } }
        let region = destination.region
        let touchers = DedicatedThread(name: "touchers") { touchPages(region, lists) }
        defer { touchers.join() }
        let report: DestinationReport
        do {
            report = try destination.waitForCompletion()
        } catch {
            Issue.record("destination: \(error); source: \(Result { try source.finish() })")
            return
        }
        let sourceReport = try source.finish()

        let cuts = try proxy.cutsMade()
        #expect(cuts == scenario.cuts, "the proxy cut \(cuts) times; the migration should outlast every cut point")
        // A cut that lands while a reconnection is under way breaks it too,
        // so each side resumes at most once per cut, and at least once. The
        // two counts may differ: a cut can fall after the destination sent
        // RESUME but before the source read it (the destination counts a
        // resumption the source never saw), or after the source read it but
        // before the destination's re-sent requests went out (the reverse).
        #expect((1...scenario.cuts).contains(report.reconnections), "\(report.reconnections) reconnections")
        #expect((1...scenario.cuts).contains(sourceReport.reconnections), "\(sourceReport.reconnections) at the source")
        var wrong: [Int] = []
        for page in 0..<pages where !testRegion.matches(destination.region, page: page) { wrong.append(page) }
        #expect(wrong.isEmpty, "\(wrong.count) pages differ, first \(wrong.prefix(5))")
        print("recovery \(scenario.testDescription): survived \(cuts) cuts with \(report.reconnections) reconnections, "
              + "\(sourceReport.pagesResent) pages sent again, paused \(String(format: "%.3f", report.pausedSeconds)) s")
    }

    @Test("with recovery off, a cut fails the migration at once and poisons what never arrived")
    func recoveryOff() throws {
        let directory = "/tmp/postcopy-recovery-off-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pages = 16_384
        let region = try TestRegion(pages: pages)
        var configuration = PostcopySource.Configuration()
        configuration.recoveryDeadline = nil
        let source = try ServingSource(region, endpoint: .unix(path: "\(directory)/source.sock"), configuration: configuration)
        let proxy = try CuttingProxyProcess(in: directory, cuts: 1, within: pages * SystemPage.size / 4, seed: 7)
        defer { proxy.stop() }
        var destinationConfiguration = PostcopyDestination.Configuration()
        destinationConfiguration.connectTimeout = .seconds(20)
        destinationConfiguration.recoveryDeadline = nil
        let destination = try PostcopyDestination.connect(to: .unix(path: "\(directory)/proxy.sock"),
                                                          configuration: destinationConfiguration)
        let failure = try #require(throws: DestinationFailure.self) { try destination.waitForCompletion() }
        #expect(failure.report.reconnections == 0)
        #expect(failure.pagesHeld < pages)
        #expect(failure.pagesPoisoned == pages - failure.pagesHeld)
        // The source fails too: it sees the cut itself (SourceError), or
        // first the destination's ERROR about it (WireError.remote).
        let sourceError = #expect(throws: (any Error).self) { try source.finish() }
        #expect(sourceError is SourceError || sourceError is WireError, "\(String(describing: sourceError))")
    }

    @Test("a source paused for its destination refuses another migration's JOIN as busy, not as a protocol violation")
    func pausedSourceRefusesStrangerAsBusy() throws {
        let region = try TestRegion(pages: 64)
        var configuration = PostcopySource.Configuration()
        configuration.recoveryDeadline = .seconds(3)
        let source = try ServingSource(region, configuration: configuration)
        let urgent = try FramedSocket.connect(to: source.endpoint, lane: .urgent, timeout: .seconds(10))
        try urgent.send(.join(Join(lane: .urgent, session: 0)))
        guard case .hello(let hello) = try urgent.receive() else { Issue.record("no HELLO"); return }
        let bulk = try FramedSocket.connect(to: source.endpoint, lane: .bulk, timeout: .seconds(10))
        try bulk.send(.join(Join(lane: .bulk, session: hello.session)))
        try urgent.send(.ready)
        // The lanes break: the source pauses for this session's destination.
        urgent.shutdown()
        bulk.shutdown()

        let stranger = try FramedSocket.connect(to: source.endpoint, lane: .urgent, timeout: .seconds(10))
        try stranger.send(.join(Join(lane: .urgent, session: hello.session &+ 1)))
        let refusal = #expect(throws: WireError.self) { try stranger.receive() }
        guard case .remote(let code, let reason)? = refusal else { Issue.record("no ERROR: \(String(describing: refusal))"); return }
        #expect(code == WireErrorCode.busy.rawValue)
        #expect(reason.contains("another migration") && reason.contains("\(hello.session)"), "\(reason)")
        // Nobody comes back for the paused session: the source gives up at its deadline.
        #expect(throws: SourceError.self) { try source.finish() }
    }
}

/// The CuttingProxy executable, listening on `directory`/proxy.sock and
/// forwarding to `directory`/source.sock.
struct CuttingProxyProcess {
    let process = Process()
    let report: String

    init(in directory: String, cuts: Int, within bytes: Int, seed: UInt64) throws {
        report = "\(directory)/cuts"
        process.executableURL = URL(fileURLWithPath: siblingExecutable("CuttingProxy"))
        process.arguments = ["--listen", "\(directory)/proxy.sock", "--to", "\(directory)/source.sock",
                             "--cuts", "\(cuts)", "--within", "\(bytes)", "--seed", "\(seed)", "--report", report]
        try process.run()
    }

    /// How many times it has cut the connections (its report file).
    func cutsMade() throws -> Int {
        Int(try String(contentsOfFile: report, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// SIGKILL: it forwards until killed.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
