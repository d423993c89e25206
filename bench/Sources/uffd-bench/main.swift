// uffd-bench: UFFDCore and Bitmaps against C floors measured in the same run.
//
//   swift run -c release uffd-bench [--rounds N] [--pages N] [--json PATH]
//                                   [--only faults|migration-faults|scan|codec|floors]
//
// Prints a table of medians and ratios and writes the raw figures as JSON.
#if canImport(Glibc)
import Glibc
#endif
import FaultBench
import Foundation
import UFFDCore

struct Options {
    var rounds = 7
    var pages = 65_536
    var jsonPath = "results/uffd-bench.json"
    var only: String?
    var floorBytes = 1 << 30

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--rounds": rounds = Int(iterator.next() ?? "") ?? rounds
            case "--pages": pages = Int(iterator.next() ?? "") ?? pages
            case "--json": jsonPath = iterator.next() ?? jsonPath
            case "--only": only = iterator.next()
            case "--floor-bytes": floorBytes = (Int(iterator.next() ?? "") ?? 1024) << 20
            case "-h", "--help":
                print("usage: uffd-bench [--rounds N (7)] [--pages N (65536)] [--json PATH] [--only faults|migration-faults|scan|codec|floors] [--floor-bytes MiB (1024)]")
                exit(0)
            default:
                FileHandle.standardError.write("uffd-bench: unknown argument \(argument)\n".data(using: .utf8)!)
                exit(64)
            }
        }
    }
}

struct Report: Codable {
    var machine: String
    var kernel: String
    var rounds: Int
    var faults: [LocalFaults.Round] = []
    var migrationFaults: [MigrationFaults.Round] = []
    var scan: [Throughput.Round] = []
    var codec: [Throughput.Round] = []
    var populateFloors: [Throughput.Round] = []
    var linkFloors: [Throughput.Round] = []
}

let options = Options(CommandLine.arguments)
var name = utsname()
uname(&name)
let kernel = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
var report = Report(machine: "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.physicalMemory >> 30) GiB",
                    kernel: kernel, rounds: options.rounds)

func wants(_ section: String) -> Bool { options.only == nil || options.only == section }

if wants("faults") {
    print("fault latency: 1 thread touching \(options.pages) pages, \(options.rounds) rounds (median of per-round p50/p99)")
    report.faults = try LocalFaults.run(pages: options.pages, rounds: options.rounds)
    print(pad("kind", 6), pad("handler", 10), pad("p50 us", 9), pad("p99 us", 9), pad("p50 vs C", 9), pad("p99 vs C", 9))
    for kind in LocalFaults.Kind.allCases {
        func figures(_ handler: LocalFaults.Handler) -> (Double, Double) {
            let rounds = report.faults.filter { $0.kind == kind && $0.handler == handler }
            return (median(rounds.map(\.latencyNanoseconds.p50)), median(rounds.map(\.latencyNanoseconds.p99)))
        }
        let c = figures(.c)
        for handler in LocalFaults.Handler.allCases {
            let (p50, p99) = figures(handler)
            print(pad(kind.rawValue, 6), pad(handler.rawValue, 10), pad(fmt(p50 / 1000), 9), pad(fmt(p99 / 1000), 9),
                  pad(fmt(p50 / c.0) + "x", 9), pad(fmt(p99 / c.1) + "x", 9))
        }
    }
    print()
}
// Also `postcopy bench-faults`, which `make bench` runs: only when asked for here.
if options.only == "migration-faults" {
    print("fault latency inside a migration: 1 thread touching \(options.pages) pages, \(options.rounds) rounds")
    report.migrationFaults = try MigrationFaults.run(pages: options.pages, rounds: options.rounds)
    FaultTable.lines(report.migrationFaults).forEach { print($0) }
    print()
}
if wants("scan") {
    report.scan = try Throughput.zeroScan(rounds: options.rounds)
    Throughput.printTable("zero-page scan over 1 GiB", report.scan)
}
if wants("codec") {
    report.codec = try Throughput.codec(rounds: options.rounds)
    Throughput.printTable("run-length codec", report.codec)
}
if wants("floors") {
    let mib = options.floorBytes >> 20
    report.populateFloors = try Floors.populate(bytes: options.floorBytes, rounds: options.rounds)
    Throughput.printTable("populate floor: fresh private anonymous \(mib) MiB, 4 KiB pages", report.populateFloors)
    report.linkFloors = try Floors.link(bytes: options.floorBytes, rounds: options.rounds)
    Throughput.printTable("link floor: \(mib) MiB through a socket pair, 256 KiB socket buffers (the bulk lane's)", report.linkFloors)
}

let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
let directory = (options.jsonPath as NSString).deletingLastPathComponent
if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
try encoder.encode(report).write(to: URL(fileURLWithPath: options.jsonPath))
print("figures written to \(options.jsonPath)")

func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
func fmt(_ value: Double) -> String { String(format: "%.2f", value) }
