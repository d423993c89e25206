import ArgumentParser
import Foundation
import PostcopyDest
import PostcopySource
import UFFDCore

/// Sizes like 1G, 256M, 4096.
struct ByteCount: ExpressibleByArgument {
    var bytes: Int
    init(bytes: Int) { self.bytes = bytes }
    init?(argument: String) {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let text = argument.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        if let last = text.last, let unit = units[last], let value = Double(text.dropLast()) {
            bytes = Int(value * Double(unit))
        } else if let value = Int(text) {
            bytes = value
        } else {
            return nil
        }
    }

    /// How `--help` shows a default: "1G", not the struct.
    var defaultValueDescription: String {
        for (unit, size) in [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(unit)"
        }
        return "\(bytes)"
    }
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Migrate a built-in region between two processes on this machine and verify every page.",
        discussion: """
            Starts a source process holding a region of free, never-touched, zero and data \
            pages, and a destination process that runs a workload reading and writing the \
            region while it arrives. Ends with a summary: time, bytes on the wire, pages by \
            class, fault latency, and a page-by-page verification against the source.
            """)

    @Option(help: "Region size (e.g. 1G, 256M).")
    var size = ByteCount(argument: "1G")!

    @Option(help: "Fraction of pages the source declares free.")
    var free = 0.5

    @Option(help: "Fraction of pages never touched.")
    var untouched = 0.1

    @Option(help: "Fraction of pages written with zeros.")
    var zero = 0.1

    @Option(help: "tcp (loopback) or unix.")
    var transport = "tcp"

    @Option(help: "Destination workload threads touching the region while it arrives.")
    var threads = 4

    @Option(name: .customLong("placing-threads"), help: "Destination threads placing streamed pages (0: the bulk lane's receiver places them).")
    var placingThreads = PostcopyDestination.Configuration().placingThreads

    @Option(name: .customLong("stream-cpus"), help: ArgumentHelp(
        "Confine both sides' background-stream threads to these CPUs (e.g. 1).",
        discussion: StreamCPUs.discussion, valueName: "cpus"))
    var streamCPUList: String?

    @Option(help: "Seed of the region's layout and content.")
    var seed: UInt64 = 1

    @Flag(name: .customLong("no-skip"), help: "Send every page (to see what skipping buys).")
    var noSkip = false

    @Flag(help: "Print the summary as JSON on stdout.")
    var json = false

    func validate() throws {
        guard size.bytes >= SystemPage.size else { throw ValidationError("--size must be at least one page") }
        guard [free, untouched, zero].allSatisfy({ $0 >= 0 }), free + untouched + zero <= 1 else {
            throw ValidationError("--free, --untouched and --zero must be non-negative and add up to at most 1")
        }
        guard ["tcp", "unix"].contains(transport) else { throw ValidationError("--transport is tcp or unix") }
        guard threads >= 0 else { throw ValidationError("--threads must be >= 0") }
        guard (0...64).contains(placingThreads) else { throw ValidationError("--placing-threads must be between 0 and 64") }
        _ = try StreamCPUs.validated(streamCPUList)
    }

    func run() throws {
        let pages = size.bytes / SystemPage.size
        let streamCPUs = streamCPUList.map { ["--stream-cpus", $0] } ?? []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("postcopy-demo-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let listen = transport == "unix" ? "unix:\(work)/source.sock" : "127.0.0.1:0"
        let executable = "/proc/self/exe"

        let source = Process()
        source.executableURL = URL(fileURLWithPath: executable)
        source.arguments = ["demo-source", "--listen", listen, "--pages", "\(pages)", "--seed", "\(seed)",
                            "--free", "\(free)", "--untouched", "\(untouched)", "--zero", "\(zero)",
                            "--work", work] + (noSkip ? ["--no-skip"] : []) + streamCPUs
        try source.run()
        let endpointFile = "\(work)/endpoint"
        guard let endpoint = waitForFile(endpointFile, while: { source.isRunning }) else {
            source.waitUntilExit()
            FileHandle.standardError.write("postcopy demo: the source process failed (status \(source.terminationStatus))\n".data(using: .utf8)!)
            throw ExitStatus.migrationFailed
        }
        let destination = Process()
        destination.executableURL = URL(fileURLWithPath: executable)
        destination.arguments = ["demo-dest", "--connect", endpoint, "--threads", "\(threads)",
                                  "--placing-threads", "\(placingThreads)", "--work", work] + streamCPUs
        try destination.run()
        destination.waitUntilExit()
        source.waitUntilExit()
        guard source.terminationStatus == 0, destination.terminationStatus == 0 else {
            FileHandle.standardError.write("postcopy demo: migration failed (source status \(source.terminationStatus), destination status \(destination.terminationStatus))\n".data(using: .utf8)!)
            throw ExitStatus.migrationFailed
        }

        let decoder = JSONDecoder()
        let sourceOutcome = try decoder.decode(DemoSourceOutcome.self, from: Data(readFile("\(work)/source.json")))
        let sourceReport = sourceOutcome.report
        let destinationReport = try decoder.decode(DemoDestinationOutcome.self, from: Data(readFile("\(work)/dest.json")))
        let expected = try RegionDigest.read("\(work)/source.digest")
        let actual = try RegionDigest.read("\(work)/dest.digest")
        let differing = zip(expected, actual).filter { $0 != $1 }.count + abs(expected.count - actual.count)
        let summary = DemoSummary(transport: transport, regionBytes: pages * SystemPage.size, source: sourceReport,
                                  destination: destinationReport.report, workload: destinationReport.workload,
                                  sourceResidentBeyondRegion: sourceOutcome.residentAnonymousBytes
                                      - (sourceReport.pageCount - sourceReport.neverPopulatedPages) * sourceReport.pageSize,
                                  destinationResidentBeyondRegion: destinationReport.residentAnonymousBytes
                                      - sourceReport.dataPages * sourceReport.pageSize,
                                  pagesVerified: min(expected.count, actual.count) - (differing - abs(expected.count - actual.count)),
                                  pagesDiffering: differing)
        print(json ? try jsonString(summary) : summary.text)
        if differing > 0 { throw ExitStatus.verificationFailed }
    }

    private func waitForFile(_ path: String, while alive: () -> Bool) -> String? {
        while alive() || FileManager.default.fileExists(atPath: path) {
            if let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
               text.hasSuffix("\n") {
                return String(text.dropLast())
            }
            usleep(10_000)
        }
        return nil
    }
}

/// What the demo prints.
struct DemoSummary: Codable {
    var transport: String
    var regionBytes: Int
    var source: SourceReport
    var destination: DestinationReport
    var workload: WorkloadReport
    /// Resident anonymous memory beyond the region's own pages, once done:
    /// the source's (its region is all populated pages) and the
    /// destination's (its region holds the data pages; zero-mapped pages
    /// are the shared zero page). Runtime, buffers and bookkeeping.
    var sourceResidentBeyondRegion: Int
    var destinationResidentBeyondRegion: Int
    var pagesVerified: Int
    var pagesDiffering: Int

    /// Every byte that crossed the sockets, both ways, as the destination counted them.
    var bytesOnWire: Int { destination.wireBytesReceived + destination.wireBytesSent }

    /// Bytes on the wire beyond the data pages themselves, as a fraction of them.
    var wireOverhead: Double {
        let data = Double(source.dataPages * source.pageSize)
        return data == 0 ? 0 : (Double(bytesOnWire) - data) / data
    }

    var text: String {
        let pages = source.pageCount
        func share(_ count: Int) -> String { String(format: "%5.1f%%", Double(count) * 100 / Double(max(pages, 1))) }
        let mib = Double(regionBytes) / Double(1 << 20)
        let lines: [[String]] = [
            ["region", String(format: "%.0f MiB, %d pages, over %@", mib, pages, transport), ""],
            ["free pages (zero-mapped locally)", "\(source.freePages)", share(source.freePages)],
            ["never-touched pages", "\(source.neverPopulatedPages)", share(source.neverPopulatedPages)],
            ["zero pages", "\(source.zeroPages)", share(source.zeroPages)],
            ["data pages (travelled)", "\(source.dataPages)", share(source.dataPages)],
            ["zero-mapped at the destination", "\(destination.pagesZeroMappedEagerly + destination.pagesZeroedOnFault)",
             share(destination.pagesZeroMappedEagerly + destination.pagesZeroedOnFault)],
            ["  of them requested from the source", "\(destination.zeroReplies)", share(destination.zeroReplies)],
            ["pages requested on fault", "\(destination.pagesRequested)", share(destination.pagesRequested)],
            ["pages streamed", "\(destination.pagesStreamed)", share(destination.pagesStreamed)],
            ["  small pieces at the stream's front", "\(destination.piecesAtFront)", ""],
            ["bytes on the wire (both ways)", "\(bytesOnWire)", String(format: "%.1f MiB", Double(bytesOnWire) / Double(1 << 20))],
            ["  beyond the data pages", String(format: "%+.3f%%", wireOverhead * 100), ""],
            ["switchover (connect to running)", String(format: "%.3f ms", destination.switchoverSeconds * 1000), ""],
            ["time to completion", String(format: "%.3f s", destination.totalSeconds), ""],
            ["fault latency, local zero p50/p99", String(format: "%.1f / %.1f us", destination.localZeroLatencyMicroseconds.p50,
                                                          destination.localZeroLatencyMicroseconds.p99),
             "\(destination.faultsZeroLocal) faults"],
            ["fault latency, remote p50/p99", String(format: "%.1f / %.1f us", destination.remoteLatencyMicroseconds.p50,
                                                      destination.remoteLatencyMicroseconds.p99),
             "\(destination.faultsRemote) faults"],
            ["workload accesses during migration", "\(workload.accesses)", "\(workload.threads) threads"],
            ["resident beyond the region, source", String(format: "%.1f MiB", Double(sourceResidentBeyondRegion) / Double(1 << 20)),
             String(format: "%.3f%% of the region", Double(sourceResidentBeyondRegion) * 100 / Double(max(regionBytes, 1)))],
            ["resident beyond the region, destination", String(format: "%.1f MiB", Double(destinationResidentBeyondRegion) / Double(1 << 20)),
             String(format: "%.3f%% of the region", Double(destinationResidentBeyondRegion) * 100 / Double(max(regionBytes, 1)))
                 + (workload.writes > 0 ? " (incl. workload writes)" : "")],
            ["pages verified against the source", "\(pagesVerified) of \(pages)", pagesDiffering == 0 ? "all equal" : "\(pagesDiffering) DIFFER"],
        ]
        return "postcopy demo\n" + table(lines)
    }
}
