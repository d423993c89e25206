import ArgumentParser
import Foundation
import Logging
import PostcopySource
import PostcopyWire
import SystemPackage

struct SourceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "source",
        abstract: "Serve an image file to one destination.",
        discussion: """
            Classifies the image's pages first (free ranges you declare, holes of a sparse \
            file, all-zero pages), then waits for the destination. Requests are answered \
            first; everything else streams in the background. Exits when the destination \
            has confirmed it holds every page.
            """)

    @Option(name: .long, help: "Address to listen on: HOST:PORT, [IPv6]:PORT, or unix:/PATH.")
    var listen: String

    @Option(name: .long, help: "The memory image to serve (raw bytes, a whole number of pages).")
    var image: String

    @Option(name: .customLong("free-ranges"), help: ArgumentHelp(
        "File of byte ranges the destination need not receive (free pages).",
        discussion: "One range per line: 'START LENGTH' or 'START-END', decimal or 0x hex; '#' comments."))
    var freeRanges: String?

    @Flag(name: .customLong("no-skip"), help: "Send every page (to measure what skipping buys).")
    var noSkip = false

    @Flag(name: .customLong("no-zero-scan"), help: "Do not read pages looking for all-zero ones.")
    var noZeroScan = false

    @Option(name: .customLong("batch-pages"), help: "Pages per background frame.")
    var batchPages = 64

    @Option(name: .customLong("accept-timeout"), help: "Seconds to wait for the destination to connect.")
    var acceptTimeout = 120

    @Option(name: .customLong("recovery-deadline"), help: ArgumentHelp(
        "Seconds to wait for the destination to reconnect after a lost connection (0: fail at once).",
        discussion: "While it waits, the destination's faulting threads stay blocked and nothing is lost; on reconnection it says which pages it holds and only the rest is sent."))
    var recoveryDeadline = 60

    @Option(name: .customLong("splice"), help: ArgumentHelp(
        "When the background stream hands pages to the bulk lane by reference: never, unix (default) or always.",
        discussion: "Splicing (vmsplice into a pipe, splice into the socket) spares this side the copy of every page. Measured on 2 vCPUs: over a Unix socket the stream's CPU per GiB fell from 0.30 to 0.11 s; over TCP loopback it saved nothing and cost the receiver more, so by default only Unix sockets splice. The served memory must not change while it is served, which the source requires anyway."))
    var splice = SpliceChoice.unix

    @OptionGroup var bulkLane: BulkLaneOptions

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() throws {
        let logger = makeLogger("postcopy.source", level: logLevel)
        var configuration = PostcopySource.Configuration()
        configuration.skipPages = !noSkip
        configuration.scanZeroPages = !noZeroScan
        configuration.streamBatchPages = batchPages
        configuration.acceptTimeout = .seconds(acceptTimeout)
        configuration.recoveryDeadline = recoveryDeadline > 0 ? .seconds(recoveryDeadline) : nil
        configuration.bulkBufferSize = bulkLane.bulkBuffer.bytes
        configuration.streamCPUs = bulkLane.streamCPUs
        configuration.spliceStream = splice.mode
        let free = try freeRanges.map { try FreeRanges.parse(String(decoding: readFile($0), as: UTF8.self)) } ?? []
        do {
            let region = try SourceRegion(imageAt: FilePath(image))
            let source = try PostcopySource(region: region, free: free, configuration: configuration)
            let listener = try Listener(endpoint: Endpoint(parsing: listen))
            logger.info("serving \(image): \(source.plan.dataPages) of \(region.pageCount) pages must travel; listening on \(listener.endpoint)")
            let report = try source.serve(on: listener)
            print(json ? try jsonString(report) : SourceCommand.describe(report))
        } catch {
            logger.error("\(error)")
            throw ExitStatus.migrationFailed
        }
    }

    static func describe(_ report: SourceReport) -> String {
        table([
            ["pages", "\(report.pageCount)"],
            ["skipped: free", "\(report.freePages)"],
            ["skipped: never populated", "\(report.neverPopulatedPages)"],
            ["skipped: zero", "\(report.zeroPages)"],
            ["data pages", "\(report.dataPages)"],
            ["sent: streamed", "\(report.pagesStreamed)"],
            ["sent: requested", "\(report.pagesRequested)"],
            ["ZERO replies", "\(report.zeroReplies)"],
            ["bitmap bytes", "\(report.bitmapBytes)"],
            ["reconnections", "\(report.reconnections)"],
            ["pages sent again (lost in flight)", "\(report.pagesResent)"],
            ["switchover ms", String(format: "%.3f", report.switchoverSeconds * 1000)],
            ["total s", String(format: "%.3f", report.totalSeconds)],
        ])
    }
}

/// `--splice`, as the command line spells `PostcopySource.SpliceStream`.
enum SpliceChoice: String, ExpressibleByArgument, CaseIterable {
    case never, unix, always

    var mode: PostcopySource.SpliceStream {
        switch self {
        case .never: return .never
        case .unix: return .overUnixSockets
        case .always: return .always
        }
    }
}
