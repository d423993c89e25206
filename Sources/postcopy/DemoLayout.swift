import UFFDCore

/// The demo's region: a deterministic mix of free, never-touched, zero and
/// data pages, laid out in 16-page chunks so that classes come in runs as
/// they do in real memory.
struct DemoLayout: Codable {
    enum PageClass: String, Codable { case free, untouched, zero, data }

    var pageCount: Int
    var seed: UInt64
    var freeFraction: Double
    var untouchedFraction: Double
    var zeroFraction: Double

    static let chunkPages = 16

    func pageClass(_ page: Int) -> PageClass {
        let chunk = UInt64(page / Self.chunkPages)
        let u = Double(mix(seed ^ (chunk &* 0x9E37_79B9_7F4A_7C15)) >> 11) / Double(1 << 53)
        if u < freeFraction { return .free }
        if u < freeFraction + untouchedFraction { return .untouched }
        if u < freeFraction + untouchedFraction + zeroFraction { return .zero }
        return .data
    }

    /// Writes page `index`'s content at `pointer` (untouched pages are left alone).
    func fill(_ pointer: UnsafeMutableRawPointer, page index: Int) {
        let words = SystemPage.size / 8
        switch pageClass(index) {
        case .untouched:
            return
        case .zero:
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: SystemPage.size)
        case .free:
            // Stale garbage: a free page's bytes must never reach the destination.
            for word in 0..<words { pointer.storeBytes(of: 0xF4EE_0000_0000_0000 | UInt64(index), toByteOffset: word * 8, as: UInt64.self) }
        case .data:
            var state = seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03)
            for word in 0..<words {
                state &+= 0x9E37_79B9_7F4A_7C15
                pointer.storeBytes(of: mix(state), toByteOffset: word * 8, as: UInt64.self)
            }
        }
    }

    /// Byte ranges of the free pages, coalesced.
    var freeRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        let pageSize = SystemPage.size
        var page = 0
        while page < pageCount {
            guard pageClass(page) == .free else { page += 1; continue }
            let start = page
            while page < pageCount && pageClass(page) == .free { page += 1 }
            ranges.append((start * pageSize)..<(page * pageSize))
        }
        return ranges
    }

    /// SplitMix64's finaliser.
    private func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
