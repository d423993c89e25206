#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import CFloor
import FaultBench
import SeededRandom
import UFFDCore

/// Throughput benchmarks: the zero-page scanner against the memory-read floor,
/// and the run-length codec.
enum Throughput {
    struct Round: Codable {
        var name: String
        /// Bytes (scan) or pages (codec) processed per second.
        var perSecond: Double
        var unit: String
        /// Encoded size, for the codec.
        var encodedBytes: Int?
        /// CPU-seconds the process used per GiB (floors: all of it is the floor's threads).
        var cpuSecondsPerGiB: Double?
    }

    /// The process's CPU time (user + system, all threads) in seconds:
    /// `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`.
    static func processCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Seconds `body` takes on the monotonic clock.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let elapsed = try clock.measure(body)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// 1 GiB of populated pages, scanned whole (all-zero pages: every byte is
    /// read) and with data (a nonzero first byte: the early exit), and the C
    /// floor reading every byte of the same memory.
    static func zeroScan(rounds: Int) throws -> [Round] {
        let bytes = 1 << 30
        let pages = bytes / SystemPage.size
        let region = try MemoryMapping(anonymousLength: bytes)
        var results: [Round] = []
        for _ in 0..<rounds {
            // Written zeros, so each page is a private page in RAM, not the shared zero page.
            memset(region.base, 0, bytes)
            var sink: UInt64 = 0
            let floor = time { sink |= floor_or_reduce(region.base, bytes) }
            var zeroCount = 0
            let scanZero = time { zeroCount = ZeroPageScanner.scan(startingAt: UnsafeRawPointer(region.base), pageCount: pages).count }
            precondition(zeroCount == pages && sink == 0, "zero scan found \(zeroCount) of \(pages) zero pages")
            for page in 0..<pages { region.page(page).storeBytes(of: 1, as: UInt8.self) }
            var dataCount = 0
            let scanData = time { dataCount = ZeroPageScanner.scan(startingAt: UnsafeRawPointer(region.base), pageCount: pages).count }
            precondition(dataCount == 0, "data scan called \(dataCount) pages zero")
            results.append(Round(name: "C floor: read every byte", perSecond: Double(bytes) / floor, unit: "B/s"))
            results.append(Round(name: "scan, all pages zero", perSecond: Double(bytes) / scanZero, unit: "B/s"))
            results.append(Round(name: "scan, data pages", perSecond: Double(bytes) / scanData, unit: "B/s"))
        }
        return results
    }

    /// Encode and decode of a 1M-page bitmap (a 4 GiB region): 50% random,
    /// and 100 long runs.
    static func codec(rounds: Int) throws -> [Round] {
        let pages = 1 << 20
        var random = PageBitmap(pageCount: pages)
        var generator = SplitMix64(seed: 42)
        for page in 0..<pages where generator.next() & 1 == 1 { random.insert(page) }
        var runs = PageBitmap(pageCount: pages)
        for run in 0..<100 where run % 2 == 0 {
            runs.insert(contentsOf: (run * pages / 100)..<((run + 1) * pages / 100))
        }
        var results: [Round] = []
        for _ in 0..<rounds {
            for (label, bitmap) in [("random 50%", random), ("100 long runs", runs)] {
                var encoded: [UInt8] = []
                let encode = time { encoded = RunLengthCodec.encode(bitmap) }
                var decoded = PageBitmap(pageCount: 0)
                let decode = try time { decoded = try RunLengthCodec.decode(encoded, expectedPageCount: pages) }
                precondition(decoded == bitmap, "codec round trip failed for \(label)")
                results.append(Round(name: "encode, \(label)", perSecond: Double(pages) / encode, unit: "pages/s",
                                     encodedBytes: encoded.count))
                results.append(Round(name: "decode, \(label)", perSecond: Double(pages) / decode, unit: "pages/s",
                                     encodedBytes: encoded.count))
            }
        }
        return results
    }

    static func printTable(_ title: String, _ rounds: [Round]) {
        print(title + " (median of \(rounds.count / Set(rounds.map(\.name)).count) rounds)")
        var seen: [String] = []
        for round in rounds where !seen.contains(round.name) { seen.append(round.name) }
        let floor = rounds.first { $0.name.hasPrefix("C floor") }.map { _ in
            median(rounds.filter { $0.name.hasPrefix("C floor") }.map(\.perSecond))
        }
        for name in seen {
            let figure = median(rounds.filter { $0.name == name }.map(\.perSecond))
            let unit = rounds.first { $0.name == name }!.unit
            var line = pad(name, 50)
            if unit == "B/s" {
                line += pad(fmt(figure / Double(1 << 30)) + " GiB/s", 14)
                if let floor { line += fmt(figure / floor) + "x the floor" }
                let cpu = rounds.filter { $0.name == name }.compactMap(\.cpuSecondsPerGiB)
                if !cpu.isEmpty { line += fmt(median(cpu)) + " CPU-s/GiB" }
            } else {
                line += pad(fmt(figure / 1e9) + " Gpages/s", 16)
                if let size = rounds.first(where: { $0.name == name })?.encodedBytes { line += "\(size) bytes encoded" }
            }
            print(line)
        }
        print()
    }
}

