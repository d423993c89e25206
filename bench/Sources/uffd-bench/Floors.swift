#if canImport(Glibc)
import Glibc
#endif
import CFloor
import UFFDCore

/// The floors issue 4 is measured against, all minimal C (CFloor): remote
/// faults over a socket, alone and beside a background stream that saturates
/// the link; populating fresh memory; and the raw link.
enum Floors {
    enum Transport: String, Codable, CaseIterable {
        case unix, tcp
        var c: Int32 { Int32(self == .unix ? FLOOR_UNIX.rawValue : FLOOR_TCP.rawValue) }
    }
    enum Order: String, Codable, CaseIterable { case sequential, random }

    struct FaultRound: Codable {
        var transport: Transport
        var order: Order
        var stream: Bool
        /// Latency of the touches that faulted (the handler got a fault for
        /// the page). Without a stream, every touch; with one, only those the
        /// stream did not beat. Nil if no touch faulted.
        var latencyNanoseconds: Summary?
        var faults: Int
        /// Faults whose page the stream placed before the reply did.
        var faultsPlacedByStream: Int
        /// The stream's payload bytes per second (stream rounds only).
        var streamBytesPerSecond: Double?
        /// Streamed pages that were already present (faulted in first).
        var streamPagesAlreadyPresent: Int?
        var touchSeconds: Double
    }

    /// A C floor returned an errno.
    struct Failure: Error, CustomStringConvertible {
        var what: String
        var errno: Int32
        var description: String { "\(what): \(String(cString: strerror(errno))) (errno \(errno))" }
    }

    static func check(_ result: Int32, _ what: @autoclosure () -> String) throws {
        if result != 0 { throw Failure(what: what(), errno: result) }
    }

    // MARK: Remote faults

    /// `rounds` rounds of every transport, order and stream setting, each a
    /// fresh region of `pages` pages. One seeded permutation for "random".
    static func faults(pages: Int, rounds: Int) throws -> [FaultRound] {
        var generator = SplitMix64(seed: 42)
        let permutation = (0..<UInt32(pages)).shuffled(using: &generator)
        var results: [FaultRound] = []
        for _ in 0..<rounds {
            for stream in [false, true] {
                for transport in Transport.allCases {
                    for order in Order.allCases {
                        results.append(try remoteFaults(transport: transport, order: order, stream: stream, pages: pages,
                                                        permutation: permutation))
                    }
                }
            }
        }
        return results
    }

    static func remoteFaults(transport: Transport, order: Order, stream: Bool, pages: Int,
                             permutation: [UInt32]) throws -> FaultRound {
        var nanoseconds = [UInt64](repeating: 0, count: pages)
        var faulted = [UInt8](repeating: 0, count: pages)
        var stats = floor_remote_stats()
        let result: Int32
        switch order {
        case .sequential:
            result = floor_remote_faults(transport.c, stream ? 1 : 0, pages, nil, &nanoseconds, &faulted, &stats)
        case .random:
            result = permutation.withUnsafeBufferPointer {
                floor_remote_faults(transport.c, stream ? 1 : 0, pages, $0.baseAddress, &nanoseconds, &faulted, &stats)
            }
        }
        try check(result, "remote faults (\(transport), \(order), stream: \(stream))")
        // Keep touch i if its page faulted.
        let latencies = (0..<pages).compactMap { touch -> Double? in
            let page = order == .sequential ? touch : Int(permutation[touch])
            return faulted[page] != 0 ? Double(nanoseconds[touch]) : nil
        }
        precondition(latencies.count == Int(stats.faults), "faulting touches \(latencies.count) != faults \(stats.faults)")
        return FaultRound(
            transport: transport, order: order, stream: stream,
            latencyNanoseconds: latencies.isEmpty ? nil : Summary(latencies),
            faults: Int(stats.faults), faultsPlacedByStream: Int(stats.faults_present),
            streamBytesPerSecond: stream ? Double(stats.stream_pages) * Double(SystemPage.size) / (Double(stats.stream_ns) / 1e9) : nil,
            streamPagesAlreadyPresent: stream ? Int(stats.stream_present) : nil,
            touchSeconds: Double(stats.touch_ns) / 1e9)
    }

    static func printFaults(_ rounds: [FaultRound], pages: Int) {
        let count = rounds.count / Set(rounds.map { "\($0.transport) \($0.order) \($0.stream)" }).count
        print("remote faults: 1 thread touching \(pages) pages over a socket, C floor (median of \(count) rounds;"
            + " with a stream, only the touches that still faulted)")
        print(pad("link", 6), pad("order", 12), pad("stream", 8), pad("faults", 8), pad("p50 us", 9), pad("p99 us", 9),
              pad("stream GiB/s", 13), "faults the stream resolved first")
        for stream in [false, true] {
            for transport in Transport.allCases {
                for order in Order.allCases {
                    let these = rounds.filter { $0.transport == transport && $0.order == order && $0.stream == stream }
                    let summaries = these.compactMap(\.latencyNanoseconds)
                    let p50 = summaries.isEmpty ? "-" : fmt(median(summaries.map(\.p50)) / 1000)
                    let p99 = summaries.isEmpty ? "-" : fmt(median(summaries.map(\.p99)) / 1000)
                    let faults = median(these.map { Double($0.faults) })
                    var line = pad(transport.rawValue, 6) + " " + pad(order.rawValue, 12) + " " + pad(stream ? "yes" : "no", 8)
                        + " " + pad(String(Int(faults)), 8) + " " + pad(p50, 9) + " " + pad(p99, 9) + " "
                    if stream {
                        line += pad(fmt(median(these.compactMap(\.streamBytesPerSecond)) / Double(1 << 30)), 13) + " "
                        line += String(Int(median(these.map { Double($0.faultsPlacedByStream) })))
                    } else {
                        line += pad("-", 13) + " -"
                    }
                    print(line)
                }
            }
        }
        print()
    }

    // MARK: Populate and link

    /// Fresh 4 KiB-page memory of `bytes`, first-touched one byte per page,
    /// memset whole, and placed by UFFDIO_COPY 64 pages at a time. One
    /// unrecorded warm-up of each first: on this VM, the first use of guest
    /// memory costs 2-4x (the host backs it then).
    static func populate(bytes: Int, rounds: Int) throws -> [Throughput.Round] {
        let modes: [(String, floor_populate_mode)] = [
            ("populate, 1 byte per page", FLOOR_POPULATE_TOUCH),
            ("populate, memset", FLOOR_POPULATE_MEMSET),
            ("populate, UFFDIO_COPY x64", FLOOR_POPULATE_UFFD_COPY),
        ]
        var results: [Throughput.Round] = []
        for round in -1..<rounds {
            for (name, mode) in modes {
                var nanoseconds: UInt64 = 0
                try check(floor_populate(bytes, Int32(mode.rawValue), &nanoseconds), name)
                if round >= 0 {
                    results.append(Throughput.Round(name: name, perSecond: Double(bytes) / (Double(nanoseconds) / 1e9), unit: "B/s"))
                }
            }
        }
        return results
    }

    /// `bytes` over each transport, in 256 KiB and 1 MiB sends, with the
    /// bulk lane's 4 MiB socket buffers.
    static func link(bytes: Int, rounds: Int) throws -> [Throughput.Round] {
        var results: [Throughput.Round] = []
        for _ in 0..<rounds {
            for transport in Transport.allCases {
                for (label, chunk) in [("256 KiB", 256 << 10), ("1 MiB", 1 << 20)] {
                    let name = "link \(transport), \(label) sends"
                    var nanoseconds: UInt64 = 0
                    try check(floor_link(transport.c, bytes, chunk, FLOOR_BULK_SOCKET_BUFFER, &nanoseconds), name)
                    results.append(Throughput.Round(name: name, perSecond: Double(bytes) / (Double(nanoseconds) / 1e9), unit: "B/s"))
                }
            }
        }
        return results
    }
}
