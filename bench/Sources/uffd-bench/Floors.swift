#if canImport(Glibc)
import Glibc
#endif
import CFloor
import CURingFloor
import FaultBench
import UFFDCore

/// The throughput floors issue 4 is measured against, minimal C (CFloor):
/// populating fresh memory, and the raw link. (Remote and local fault floors
/// run beside the library in FaultBench.)
enum Floors {
    enum Transport: String, Codable, CaseIterable {
        case unix, tcp
        var c: Int32 { Int32(self == .unix ? FLOOR_UNIX.rawValue : FLOOR_TCP.rawValue) }
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
                let cpu = try cpuSecondsPerGiB(bytes) { try check(floor_populate(bytes, Int32(mode.rawValue), &nanoseconds), name) }
                if round >= 0 {
                    results.append(Throughput.Round(name: name, perSecond: Double(bytes) / (Double(nanoseconds) / 1e9), unit: "B/s",
                                                    cpuSecondsPerGiB: cpu))
                }
            }
        }
        return results
    }

    /// CPU-seconds per GiB of `bytes` that `body` used, all threads of the
    /// process (only the floor's run while it does). With the throughput, it
    /// tells how many CPUs a floor keeps busy: what a migration doing the same
    /// work must find on the same machine.
    static func cpuSecondsPerGiB(_ bytes: Int, _ body: () throws -> Void) rethrows -> Double {
        let before = Throughput.processCPUSeconds()
        try body()
        return (Throughput.processCPUSeconds() - before) / (Double(bytes) / Double(1 << 30))
    }

    /// `bytes` over each transport, in 256 KiB and 1 MiB sends, with the
    /// bulk lane's 256 KiB socket buffers.
    static func link(bytes: Int, rounds: Int) throws -> [Throughput.Round] {
        var results: [Throughput.Round] = []
        for _ in 0..<rounds {
            for transport in Transport.allCases {
                for (label, chunk) in [("256 KiB", 256 << 10), ("1 MiB", 1 << 20)] {
                    let name = "link \(transport), \(label) sends"
                    var nanoseconds: UInt64 = 0
                    let cpu = try cpuSecondsPerGiB(bytes) {
                        try check(floor_link(transport.c, bytes, chunk, FLOOR_BULK_SOCKET_BUFFER, &nanoseconds), name)
                    }
                    results.append(Throughput.Round(name: name, perSecond: Double(bytes) / (Double(nanoseconds) / 1e9), unit: "B/s",
                                                    cpuSecondsPerGiB: cpu))
                }
                // The same sender; the receiver keeps `depth` recvs in flight on an io_uring.
                for depth in [1, 4] {
                    let name = "io_uring link \(transport), 256 KiB recvs, \(depth) in flight"
                    var nanoseconds: UInt64 = 0
                    var context = Int32(depth)
                    try check(floor_link_receiving(transport.c, bytes, 256 << 10, FLOOR_BULK_SOCKET_BUFFER,
                                                   uring_link_receiver, &context, &nanoseconds), name)
                    results.append(Throughput.Round(name: name, perSecond: Double(bytes) / (Double(nanoseconds) / 1e9), unit: "B/s"))
                }
            }
        }
        return results
    }
}
