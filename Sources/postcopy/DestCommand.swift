import ArgumentParser
import Foundation
import Logging
import PostcopyDest
import PostcopyWire
import Synchronization
import SystemCalls
import UFFDCore

struct DestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dest",
        abstract: "Receive a region from a source.",
        discussion: """
            Connects, maps an empty region of the source's size, registers it with \
            userfaultfd and is running at once. Skipped pages are zero-mapped locally; the \
            rest arrive as requested or streamed. With --save the region is written out \
            once complete.
            """)

    @Option(name: .long, help: "The source's address: HOST:PORT, [IPv6]:PORT, or unix:/PATH.")
    var connect: String

    @Option(name: .long, help: "Write the region to this file when complete.")
    var save: String?

    @Option(name: .long, help: "Seconds to keep trying to reach the source.")
    var timeout = 60

    @Option(name: .customLong("placing-threads"), help: ArgumentHelp(
        "Threads placing streamed pages while the bulk lane receives more (0: place on the receiving thread).",
        discussion: "Placing a page into fresh memory costs more than receiving it; on more than one CPU, placing on threads of their own lets receiving and placing overlap."))
    var placingThreads = PostcopyDestination.Configuration().placingThreads

    @Flag(name: .customLong("no-eager-zero"), help: "Zero-fill skipped pages only when touched, not as soon as the bitmap arrives.")
    var noEagerZero = false

    @Option(name: .customLong("recovery-deadline"), help: ArgumentHelp(
        "Seconds to keep reconnecting after a lost connection (0: fail at once).",
        discussion: "Threads touching missing pages wait meanwhile. When the deadline passes, the pages that never arrived are poisoned (a thread touching one gets SIGBUS) and the command exits 1."))
    var recoveryDeadline = 60

    @Option(name: .customLong("urgent-poll"), help: ArgumentHelp(
        "Microseconds the urgent lane polls for the next reply before sleeping (0: never polls).",
        discussion: "While threads fault, replies follow one another; polling takes each without a wake-up (tens of microseconds on a VM) at the price of a busy CPU while it waits. Over TCP it polls only while the background stream is quiet: with the stream running, the poller takes the CPU the faulting thread needs."))
    var urgentPoll = Int(PostcopyDestination.Configuration().urgentPollTime / .microseconds(1))

    @OptionGroup var bulkLane: BulkLaneOptions

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (0...64).contains(placingThreads) else {
            throw ValidationError("--placing-threads must be between 0 and 64, not \(placingThreads).")
        }
        guard (0...1_000_000).contains(urgentPoll) else {
            throw ValidationError("--urgent-poll must be between 0 and 1000000 microseconds, not \(urgentPoll).")
        }
    }

    func run() throws {
        let logger = makeLogger("postcopy.dest", level: logLevel)
        do {
            var configuration = PostcopyDestination.Configuration()
            configuration.connectTimeout = .seconds(timeout)
            configuration.eagerZeroMap = !noEagerZero
            configuration.placingThreads = placingThreads
            configuration.urgentPollTime = .microseconds(urgentPoll)
            configuration.bulkBufferSize = bulkLane.bulkBuffer.bytes
            configuration.streamCPUs = bulkLane.streamCPUs
            configuration.recoveryDeadline = recoveryDeadline > 0 ? .seconds(recoveryDeadline) : nil
            let destination = try PostcopyDestination.connect(to: Endpoint(parsing: connect), configuration: configuration)
            logger.info("running on \(destination.region.length) bytes at \(destination.region)")
            let report = try DestCommand.waitShowingProgress(destination)
            if let save {
                try writeFile(save, contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: destination.region.start),
                                                                       count: destination.region.length))
                logger.info("saved the region to \(save)")
            }
            print(json ? try jsonString(report) : DestCommand.describe(report))
        } catch {
            logger.error("\(error)")
            throw ExitStatus.migrationFailed
        }
    }

    /// Waits for completion while a progress line (on a terminal) counts pages held.
    static func waitShowingProgress(_ destination: PostcopyDestination) throws -> DestinationReport {
        let progress = ProgressLine()
        let finished = DoneFlag()
        let watcher = DedicatedThread(name: "progress") {
            while !finished.isSet {
                let (held, total) = destination.progress
                progress.update("receiving", done: held, total: total)
                if held >= total { break }
                usleep(50_000)
            }
        }
        defer {
            finished.set()  // also when the migration failed short of every page
            watcher.join()
            progress.finish()
        }
        return try destination.waitForCompletion()
    }

    static func describe(_ report: DestinationReport) -> String {
        table([
            ["pages", "\(report.pageCount)"],
            ["zero-mapped locally (bitmap)", "\(report.pagesZeroMappedEagerly)"],
            ["zero-mapped on fault", "\(report.pagesZeroedOnFault)"],
            ["requested", "\(report.pagesRequested)"],
            ["streamed", "\(report.pagesStreamed)"],
            ["  small pieces at the stream's front", "\(report.piecesAtFront)"],
            ["ZERO replies", "\(report.zeroReplies)"],
            ["duplicates (EEXIST)", "\(report.duplicatePages)"],
            ["bytes received", "\(report.bytesReceived)"],
            ["reconnections (paused s)", String(format: "%d (%.3f)", report.reconnections, report.pausedSeconds)],
            ["local faults p50/p99 us", String(format: "%.1f / %.1f", report.localZeroLatencyMicroseconds.p50, report.localZeroLatencyMicroseconds.p99)],
            ["remote faults p50/p99 us", String(format: "%.1f / %.1f", report.remoteLatencyMicroseconds.p50, report.remoteLatencyMicroseconds.p99)],
            ["switchover ms", String(format: "%.3f", report.switchoverSeconds * 1000)],
            ["total s", String(format: "%.3f", report.totalSeconds)],
        ])
    }
}

/// A flag one thread raises and another polls.
final class DoneFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}
