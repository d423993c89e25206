/// Order statistics of a sample, for reporting medians and tails.
public struct Summary: Codable, Sendable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var max: Double

    /// Summarises `values` (sorted here; O(n log n)).
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "summary of nothing")
        let sorted = values.sorted()
        count = sorted.count
        p50 = Summary.percentile(sorted, 0.50)
        p99 = Summary.percentile(sorted, 0.99)
        max = sorted[sorted.count - 1]
    }

    /// Nearest-rank percentile of sorted values.
    public static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank))]
    }
}

/// The median of a few per-round figures (0 for none).
public func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
