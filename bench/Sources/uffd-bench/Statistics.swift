/// Order statistics of a sample, for reporting medians and tails.
struct Summary: Codable {
    var count: Int
    var p50: Double
    var p99: Double
    var max: Double

    /// Summarises `values` (sorted here; O(n log n)).
    init(_ values: [Double]) {
        precondition(!values.isEmpty, "summary of nothing")
        let sorted = values.sorted()
        count = sorted.count
        p50 = Summary.percentile(sorted, 0.50)
        p99 = Summary.percentile(sorted, 0.99)
        max = sorted[sorted.count - 1]
    }

    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
    }
}

/// The median of a few per-round figures.
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
