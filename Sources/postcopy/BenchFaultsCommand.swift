#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FaultBench
import Foundation

/// `postcopy bench-faults`: fault latency of this library against minimal C
/// floors, on the machine it runs on, without the bench package.
struct BenchFaultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-faults",
        abstract: "Measure how long a faulting thread waits, against a minimal C program doing the same job.",
        discussion: """
            One thread of a destination touches every page of a fresh region once, and the \
            time of each touch is recorded. Two classes of fault:

              remote  the page comes from a source in this process, over a socket: \
            swift-postcopy (PostcopySource and PostcopyDestination) against a C floor that \
            sends an 8-byte request, reads the 4 KiB reply and places it with UFFDIO_COPY. \
            Idle (only requested pages travel), and while the background stream saturates \
            the link (both stream every page; only the touches that still faulted count).
              free    the skip bitmap marks the page free; the destination fills it with \
            UFFDIO_ZEROPAGE. Against a C handler doing one ZEROPAGE per fault.

            Each workload runs in sequential and in random page order. The two \
            implementations alternate within each round, so drift in the machine affects \
            both; the table shows the medians over rounds of each round's p50, p99 and max, \
            and the ratios. Every migrated page is checked. Build with -c release: a debug \
            build measures the debug build.
            """)

    @Option(help: "Pages per region (4 KiB each).")
    var pages = 16_384

    @Option(help: "Rounds of every workload.")
    var rounds = 5

    @Option(help: "Links to measure remote faults over: tcp, unix, or both.")
    var transport = "both"

    @Option(name: .customLong("placing-threads"), help: "The library destination's placing threads (default: the library's default).")
    var placingThreads: Int?

    @Option(help: ArgumentHelp("""
        Workloads to run, comma-separated: idle (remote faults, nothing else on the link), \
        stream (remote faults while the background stream saturates the link), free \
        (skipped pages). Running only stream gives its rows more rounds in the same time.
        """, valueName: "list"))
    var workloads = "idle,stream,free"

    @Option(name: .customLong("stream-cpus"), help: ArgumentHelp(
        "Confine the stream's threads to these CPUs (e.g. 1), the library's and the C floor's alike.",
        discussion: StreamCPUs.discussion, valueName: "cpus"))
    var streamCPUList: String?

    @Option(help: "Also write every round's figures as JSON to this file.")
    var json: String?

    func validate() throws {
        guard pages >= 16 else { throw ValidationError("--pages must be at least 16") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard ["tcp", "unix", "both"].contains(transport) else { throw ValidationError("--transport is tcp, unix or both") }
        _ = try selectedWorkloads()
        if let placingThreads, !(0...64).contains(placingThreads) {
            throw ValidationError("--placing-threads must be between 0 and 64")
        }
        _ = try StreamCPUs.validated(streamCPUList)
    }

    /// The `--workloads` list as remote-fault stream settings and classes.
    private func selectedWorkloads() throws -> (streams: [Bool], classes: [MigrationFaults.Class]) {
        let names = workloads.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let known = ["idle", "stream", "free"]
        guard !names.isEmpty, names.allSatisfy(known.contains) else {
            throw ValidationError("--workloads takes a comma-separated list of idle, stream and free (got '\(workloads)')")
        }
        let streams = [false, true].filter { names.contains($0 ? "stream" : "idle") }
        var classes: [MigrationFaults.Class] = streams.isEmpty ? [] : [.remote]
        if names.contains("free") { classes.append(.free) }
        return (streams, classes)
    }

    func run() throws {
        let (streams, classes) = try selectedWorkloads()
        let transports: [MigrationFaults.Transport] = transport == "both" ? [.unix, .tcp] : [transport == "tcp" ? .tcp : .unix]
        let interactive = isatty(STDERR_FILENO) == 1
        let streamCPUs = try StreamCPUs.validated(streamCPUList)
        print("fault latency: 1 thread touching \(pages) pages (\(pages * 4 / 1024) MiB), \(rounds) rounds"
              + (streamCPUs.map { ", stream threads on CPUs \($0)" } ?? ""))
        let results = try MigrationFaults.run(pages: pages, rounds: rounds, transports: transports,
                                              streams: streams.isEmpty ? [false] : streams, classes: classes,
                                              placingThreads: placingThreads, streamCPUs: streamCPUs) { step in
            guard interactive else { return }
            FileHandle.standardError.write("\r\u{1B}[K\(step)".data(using: .utf8)!)
        }
        if interactive { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
        FaultTable.lines(results).forEach { print($0) }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(fileURLWithPath: json))
            print("every round written to \(json)")
        }
    }
}
