#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging

/// Progress on stderr, redrawn in place, shown only when stderr is a terminal
/// (never in logs or CI output).
final class ProgressLine: @unchecked Sendable {
    // @unchecked: used from the one thread that owns the display.
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDraw: UInt64 = 0

    func update(_ label: String, done: Int, total: Int) {
        guard enabled, total > 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || done == total else { return }  // 10 redraws a second at most
        lastDraw = now
        let percent = Double(done) * 100 / Double(total)
        let width = 30, filled = Int(Double(width) * Double(done) / Double(total))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write("\r\(label) [\(bar)] \(done)/\(total) pages (\(String(format: "%.1f", percent))%)".data(using: .utf8)!)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}

/// swift-log to stderr at `level`, once per process.
func makeLogger(_ label: String, level: Logger.Level) -> Logger {
    LoggingSetup.once
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}

private enum LoggingSetup {
    static let once: Void = LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A fixed-width text table.
func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    let widths = (0..<first.count).map { column in rows.map { $0.count > column ? $0[column].count : 0 }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[index] - cell.count) + cell
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

func jsonString(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
