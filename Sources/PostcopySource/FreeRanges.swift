import Bitmaps
import UFFDCore

/// Free ranges declared by the caller, as a page bitmap.
public enum FreeRanges {
    /// The pages lying wholly inside `ranges` (byte offsets into a region of
    /// `length` bytes). A page only partly covered is not free: its other
    /// bytes may be live data.
    ///
    /// - Complexity: O(ranges + pages / 64).
    public static func bitmap(_ ranges: [Range<Int>], regionLength length: Int) throws -> PageBitmap {
        let pageSize = SystemPage.size
        var bitmap = PageBitmap(pageCount: length / pageSize)
        for range in ranges {
            guard range.lowerBound >= 0, range.upperBound <= length else {
                throw SourceError.freeRangeOutsideRegion(start: range.lowerBound, end: range.upperBound, length: length)
            }
            let first = (range.lowerBound + pageSize - 1) / pageSize
            let end = range.upperBound / pageSize
            if first < end { bitmap.insert(contentsOf: first..<end) }
        }
        return bitmap
    }

    /// Parses a free-ranges file: one range per line, `START LENGTH` or
    /// `START-END` in bytes (decimal or `0x` hex); `#` starts a comment.
    public static func parse(_ text: String) throws -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingPrefix(while: \.isWhitespace)
            if trimmed.allSatisfy(\.isWhitespace) { continue }
            let bad = SourceError.badFreeRangeLine(number: index + 1, text: String(rawLine))
            if trimmed.contains("-") {
                let parts = trimmed.split(separator: "-").map { $0.trimmingPrefix(while: \.isWhitespace) }
                guard parts.count == 2, let start = number(parts[0]), let end = number(parts[1]), start <= end else { throw bad }
                ranges.append(start..<end)
            } else {
                let parts = trimmed.split(whereSeparator: \.isWhitespace)
                guard parts.count == 2, let start = number(parts[0]), let length = number(parts[1]),
                      case (let end, false) = start.addingReportingOverflow(length) else { throw bad }
                ranges.append(start..<end)
            }
        }
        return ranges
    }

    private static func number(_ text: some StringProtocol) -> Int? {
        let text = String(text.filter { !$0.isWhitespace })
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int(text.dropFirst(2), radix: 16) }
        return Int(text)
    }
}
