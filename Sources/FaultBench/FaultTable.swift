import Foundation

/// The fault-latency table `postcopy bench-faults` and `uffd-bench` print:
/// per class, the medians over rounds of each round's p50, p99 and max, for
/// the C floor and for swift-postcopy, and their ratios.
public enum FaultTable {
    public static func lines(_ rounds: [MigrationFaults.Round]) -> [String] {
        var lines = [
            row(["class", "link", "order", "stream", "faults", "floor p50", "p99", "max",
                 "library p50", "p99", "max", "p50 ratio", "p99 ratio"]),
        ]
        var seen = Set<String>()
        for round in rounds {
            let key = "\(round.faultClass) \(round.transport) \(round.order) \(round.stream)"
            guard seen.insert(key).inserted else { continue }
            let same = rounds.filter {
                $0.faultClass == round.faultClass && $0.transport == round.transport && $0.order == round.order
                    && $0.stream == round.stream
            }
            func figures(_ implementation: MigrationFaults.Implementation) -> (faults: Double, p50: Double, p99: Double, max: Double) {
                let these = same.filter { $0.implementation == implementation }
                let summaries = these.compactMap(\.latencyNanoseconds)
                return (median(these.map { Double($0.faults) }), median(summaries.map(\.p50)) / 1000,
                        median(summaries.map(\.p99)) / 1000, median(summaries.map(\.max)) / 1000)
            }
            let floor = figures(.floor), library = figures(.library)
            // Free pages are measured over one link only; it does not carry them.
            let link = round.faultClass == .free ? "-" : round.transport.rawValue
            lines.append(row([
                round.faultClass.rawValue, link, round.order.rawValue, round.stream ? "yes" : "no",
                "\(Int(floor.faults))/\(Int(library.faults))",
                format(floor.p50), format(floor.p99), format(floor.max),
                format(library.p50), format(library.p99), format(library.max),
                ratio(library.p50, floor.p50), ratio(library.p99, floor.p99),
            ]))
        }
        lines.append("latencies in microseconds, medians over rounds; faults: touches slower than "
                     + "\(MigrationFaults.faultThresholdNanoseconds / 1000) us (floor/library)")
        return lines
    }

    static let widths = [7, 5, 11, 7, 13, 10, 8, 8, 12, 8, 8, 10, 9]

    static func row(_ cells: [String]) -> String {
        zip(cells, widths).map { cell, width in
            cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
        }.joined()
    }

    static func format(_ microseconds: Double) -> String {
        if microseconds == 0 { return "-" }
        return microseconds < 10 ? String(format: "%.2f", microseconds) : String(format: "%.1f", microseconds)
    }

    static func ratio(_ value: Double, _ base: Double) -> String {
        base == 0 || value == 0 ? "-" : String(format: "%.2fx", value / base)
    }
}
