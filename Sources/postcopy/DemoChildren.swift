#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import PostcopyDest
import PostcopySource
import PostcopyWire
import Synchronization
import SystemCalls
import UFFDCore

/// The demo's source process: builds the region in memory, serves it.
struct DemoSourceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-source", abstract: "The demo's source process.",
                                                    shouldDisplay: false)
    @Option var listen: String
    @Option var pages: Int
    @Option var seed: UInt64
    @Option var free: Double
    @Option var untouched: Double
    @Option var zero: Double
    @Option var work: String
    @Flag(name: .customLong("no-skip")) var noSkip = false
    @Option(name: .customLong("stream-cpus")) var streamCPUList: String?

    func run() throws {
        let logger = makeLogger("postcopy.demo.source", level: .info)
        let layout = DemoLayout(pageCount: pages, seed: seed, freeFraction: free, untouchedFraction: untouched, zeroFraction: zero)
        let mapping = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        for page in 0..<pages { layout.fill(mapping.page(page), page: page) }
        var configuration = PostcopySource.Configuration()
        configuration.skipPages = !noSkip
        configuration.streamCPUs = try StreamCPUs.validated(streamCPUList)
        let source = try PostcopySource(region: SourceRegion(memory: mapping.base, length: mapping.length),
                                        free: noSkip ? [] : layout.freeRanges, configuration: configuration)
        // Only after the pagemap scan: reading an untouched page maps the zero
        // page, and the scan would then count it as populated.
        // Free pages travel as zeros: that is what the destination must hold.
        do {
            // Scoped: freed before serving, so the resident memory measured
            // afterwards holds only the region and the source's own state.
            let digests = RegionDigest.pages(mapping.base, pageCount: pages, asZero: { noSkip ? false : layout.pageClass($0) == .free })
            try RegionDigest.write(digests, to: "\(work)/source.digest")
        }
        let listener = try Listener(endpoint: Endpoint(parsing: listen))
        try writeFile("\(work)/endpoint", Array("\(listener.endpoint)\n".utf8))
        do {
            let report = try source.serve(on: listener)
            let outcome = DemoSourceOutcome(report: report, residentAnonymousBytes: try residentAnonymousBytes())
            try writeFile("\(work)/source.json", Array(try jsonString(outcome).utf8))
        } catch {
            logger.error("source: \(error)")
            throw ExitStatus.migrationFailed
        }
    }
}

/// What the demo's workload did while the region arrived.
struct WorkloadReport: Codable {
    var threads: Int
    var accesses: Int
    var writes: Int
}

struct DemoDestinationOutcome: Codable {
    var report: DestinationReport
    var workload: WorkloadReport
    /// `RssAnon` once complete, before the demo's own verification allocates.
    var residentAnonymousBytes: Int
}

struct DemoSourceOutcome: Codable {
    var report: SourceReport
    /// `RssAnon` once served.
    var residentAnonymousBytes: Int
}

/// The demo's destination process: receives the region while threads read
/// and write it.
struct DemoDestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo-dest", abstract: "The demo's destination process.",
                                                    shouldDisplay: false)
    @Option var connect: String
    @Option var threads: Int
    @Option var placingThreads: Int
    @Option var work: String
    @Option(name: .customLong("stream-cpus")) var streamCPUList: String?

    func run() throws {
        let logger = makeLogger("postcopy.demo.dest", level: .info)
        do {
            var configuration = PostcopyDestination.Configuration()
            configuration.placingThreads = placingThreads
            configuration.streamCPUs = try StreamCPUs.validated(streamCPUList)
            let destination = try PostcopyDestination.connect(to: Endpoint(parsing: connect), configuration: configuration)
            let workload = Workload(region: destination.region, threads: threads)
            let report = try DestCommand.waitShowingProgress(destination)
            let done = workload.stop()
            let resident = try residentAnonymousBytes()
            let region = destination.region
            let digests = RegionDigest.pages(UnsafeRawPointer(bitPattern: region.start)!, pageCount: region.length / SystemPage.size)
            try RegionDigest.write(digests, to: "\(work)/dest.digest")
            try writeFile("\(work)/dest.json", Array(try jsonString(DemoDestinationOutcome(report: report, workload: done, residentAnonymousBytes: resident)).utf8))
        } catch {
            logger.error("destination: \(error)")
            throw ExitStatus.migrationFailed
        }
    }
}

/// Reads the first word of a page and, if `write`, stores it back: a real
/// load and store even in a release build, where a store of the value just
/// loaded would otherwise be removed as a no-op (and no fault would happen).
@inline(never) @_optimize(none)
func touch(_ address: UnsafeMutableRawPointer, write: Bool) {
    let value = address.load(as: UInt64.self)
    if write { address.storeBytes(of: value, as: UInt64.self) }
}

/// Threads touching random pages of the region while it arrives: reads, and
/// writes that store back the value read (a write fault that keeps the
/// content, so the region can still be verified against the source).
final class Workload: Sendable {
    private let workers: [DedicatedThread]
    private let threadCount: Int
    private let counters: Counters

    private final class Counters: Sendable {
        let stopped = Atomic<Bool>(false)
        let accesses = Atomic<Int>(0)
        let writes = Atomic<Int>(0)
    }

    init(region: MemoryRange, threads: Int) {
        threadCount = threads
        let pages = region.length / SystemPage.size
        var workers: [DedicatedThread] = []
        let box = Counters()
        for thread in 0..<threads {
            workers.append(DedicatedThread(name: "workload") { [box] in
                var state = UInt64(thread + 1) &* 0x9E37_79B9_7F4A_7C15
                var count = 0, written = 0
                while !box.stopped.load(ordering: .relaxed) {
                    state &+= 0x9E37_79B9_7F4A_7C15
                    var z = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
                    z ^= z >> 31
                    let page = Int(z % UInt64(pages))
                    let address = UnsafeMutableRawPointer(bitPattern: region.start + UInt(page * SystemPage.size))!
                    let write = z & 3 == 0
                    touch(address, write: write)
                    if write { written += 1 }
                    count += 1
                }
                box.accesses.add(count, ordering: .relaxed)
                box.writes.add(written, ordering: .relaxed)
            })
        }
        self.workers = workers
        self.counters = box
    }

    /// Stops the threads and returns what they did.
    func stop() -> WorkloadReport {
        counters.stopped.store(true, ordering: .relaxed)
        workers.forEach { $0.join() }
        return WorkloadReport(threads: threadCount, accesses: counters.accesses.load(ordering: .relaxed),
                              writes: counters.writes.load(ordering: .relaxed))
    }
}
