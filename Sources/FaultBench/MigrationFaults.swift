#if canImport(Glibc)
import Glibc
#endif
import CFloor
import PostcopyDest
import PostcopySource
import PostcopyWire
import SeededRandom
import SystemCalls
import UFFDCore

/// Fault latency inside a migration: a thread of the destination touching
/// pages of its region, against the C floor for the same job, measured in the
/// same run.
///
/// Classes:
/// - `remote`: the page must come from the source. The library (a
///   `PostcopySource` serving in a thread of this process, a
///   `PostcopyDestination`) against `floor_remote_faults` (an 8-byte request,
///   a 4 KiB reply, UFFDIO_COPY). Idle (nothing else on the link) or while the
///   background stream saturates the bulk lane (both sides stream every page).
/// - `free`: the skip bitmap says the page is free; the destination (without
///   eager zero-mapping) fills it locally with UFFDIO_ZEROPAGE. Against the C
///   handler doing ZEROPAGE per fault.
///
/// The touching loop is the same C code everywhere (`floor_touch` or
/// `floor_touch_order`), so only what serves the fault differs.
public enum MigrationFaults {
    public enum Transport: String, Codable, CaseIterable, Sendable {
        case unix, tcp
        var floor: Int32 { Int32(self == .unix ? FLOOR_UNIX.rawValue : FLOOR_TCP.rawValue) }
    }
    public enum Order: String, Codable, CaseIterable, Sendable { case sequential, random }
    public enum Implementation: String, Codable, CaseIterable, Sendable { case floor = "C floor", library = "swift-postcopy" }
    public enum Class: String, Codable, CaseIterable, Sendable { case remote, free }

    public struct Round: Codable, Sendable {
        public var implementation: Implementation
        public var faultClass: Class
        public var transport: Transport
        public var order: Order
        /// The background stream ran while the thread touched pages.
        public var stream: Bool
        /// Latency of the touches that faulted; nil if none did.
        public var latencyNanoseconds: Summary?
        /// The faulting touches' latency at quantiles 0, 0.001, ..., 1 (1,001
        /// values, nanoseconds), for plotting the distribution; empty if none.
        public var quantileNanoseconds: [Double]
        public var touches: Int
        /// Touches slower than `faultThresholdNanoseconds`.
        public var faults: Int
        public var touchSeconds: Double
    }

    /// Which touches count as faults, for library and floor alike: a touch of
    /// a present page takes well under a microsecond, the fastest resolved
    /// fault on this kind of machine several (the wake-up alone).
    public static let faultThresholdNanoseconds: UInt64 = 3_000

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `rounds` rounds of every combination asked for, floor and library
    /// interleaved (which goes first alternates) so that drift in the machine
    /// affects both alike. Every region is `pages` pages; "random" is one
    /// seeded permutation. `placingThreads` sets the library destination's
    /// (`PostcopyDestination.Configuration.placingThreads`); nil keeps its default.
    /// `streamCPUs` confines the stream's threads, the library's (both
    /// sides' `streamCPUs`) and the floor's alike.
    public static func run(pages: Int, rounds: Int, transports: [Transport] = Transport.allCases,
                           orders: [Order] = Order.allCases, streams: [Bool] = [false, true],
                           classes: [Class] = Class.allCases, placingThreads: Int? = nil, streamCPUs: CPUSet? = nil,
                           progress: (String) -> Void = { _ in }) throws -> [Round] {
        var generator = SplitMix64(seed: 42)
        let permutation = (0..<UInt32(pages)).shuffled(using: &generator)
        var results: [Round] = []
        for round in 0..<rounds {
            let implementations = round % 2 == 0 ? Implementation.allCases : Implementation.allCases.reversed()
            for faultClass in classes {
                // A free page never travels: one link is enough for it.
                for transport in faultClass == .free ? Array(transports.prefix(1)) : transports {
                    for order in orders {
                        for stream in faultClass == .free ? [false] : streams {
                            for implementation in implementations {
                                progress("round \(round + 1)/\(rounds): \(faultClass), \(transport), \(order)"
                                         + "\(stream ? ", stream" : ""), \(implementation.rawValue)")
                                results.append(try measure(implementation, faultClass, transport: transport, order: order,
                                                           stream: stream, pages: pages, permutation: permutation,
                                                           placingThreads: placingThreads, streamCPUs: streamCPUs))
                            }
                        }
                    }
                }
            }
        }
        return results
    }

    static func measure(_ implementation: Implementation, _ faultClass: Class, transport: Transport, order: Order,
                        stream: Bool, pages: Int, permutation: [UInt32], placingThreads: Int?,
                        streamCPUs: CPUSet? = nil) throws -> Round {
        var nanoseconds = [UInt64](repeating: 0, count: pages)
        let start = ContinuousClock.now
        switch (implementation, faultClass) {
        case (.floor, .remote):
            var faulted = [UInt8](repeating: 0, count: pages)
            var stats = floor_remote_stats()
            let mask = streamCPUs?.mask
            let result = permutation.withUnsafeBufferPointer { touchOrder in
                (mask ?? []).withUnsafeBufferPointer { cpus in
                    floor_remote_faults(transport.floor, stream ? 1 : 0, pages, order == .random ? touchOrder.baseAddress : nil,
                                        &nanoseconds, &faulted, mask == nil ? nil : cpus.baseAddress, cpus.count, &stats)
                }
            }
            guard result == 0 else { throw Failure(description: "C remote floor: \(String(cString: strerror(result)))") }
        case (.floor, .free):
            // The local ZEROPAGE floor: the C handler, one ZEROPAGE per fault.
            nanoseconds = try LocalFaults.measure(handler: .c, kind: .zeroPage, pages: pages, order: order == .random ? permutation : nil)
                .map { UInt64($0) }
        case (.library, _):
            nanoseconds = try library(faultClass, transport: transport, order: order, stream: stream, pages: pages,
                                      permutation: permutation, placingThreads: placingThreads, streamCPUs: streamCPUs)
        }
        let touchSeconds = Double((ContinuousClock.now - start) / .nanoseconds(1)) / 1e9
        let faulting = nanoseconds.filter { $0 >= faultThresholdNanoseconds }.map { Double($0) }.sorted()
        let quantiles = faulting.isEmpty ? [] : (0...1000).map { Summary.percentile(faulting, Double($0) / 1000) }
        return Round(implementation: implementation, faultClass: faultClass, transport: transport, order: order,
                     stream: stream, latencyNanoseconds: faulting.isEmpty ? nil : Summary(faulting),
                     quantileNanoseconds: quantiles,
                     touches: pages, faults: faulting.count, touchSeconds: touchSeconds)
    }

    /// One migration of a fresh `pages`-page region (plus one last data page
    /// that keeps it open while free pages are touched) inside this process.
    /// Returns each touch's nanoseconds, after checking every touched page.
    static func library(_ faultClass: Class, transport: Transport, order: Order, stream: Bool, pages: Int,
                        permutation: [UInt32], placingThreads: Int?, streamCPUs: CPUSet?) throws -> [UInt64] {
        let pageSize = SystemPage.size
        let total = pages + 1
        let content = try MemoryMapping(anonymousLength: total * pageSize)
        // Every page nonzero and distinct: none is skipped as zero.
        for page in 0..<total {
            let base = content.base + page * pageSize
            base.initializeMemory(as: UInt8.self, repeating: 0xA5, count: pageSize)
            base.storeBytes(of: UInt64(page + 1), as: UInt64.self)
        }
        var configuration = PostcopySource.Configuration()
        configuration.backgroundStream = stream
        configuration.acceptTimeout = .seconds(30)
        configuration.streamCPUs = streamCPUs
        let free = faultClass == .free ? [0..<(pages * pageSize)] : []
        let source = try PostcopySource(region: SourceRegion(memory: content.base, length: content.length),
                                        free: free, configuration: configuration)
        let endpoint: Endpoint = transport == .unix
            ? .unix(path: "/tmp/postcopy-bench-faults-\(getpid()).sock") : .tcp(host: "127.0.0.1", port: 0)
        let listener = try Listener(endpoint: endpoint)
        let outcome = LockedValue<Result<SourceReport, any Error>?>(nil)
        let server = DedicatedThread(name: "bench source") {
            let result = Result { try source.serve(on: listener) }
            outcome.withLock { $0 = result }
        }
        var destinationConfiguration = PostcopyDestination.Configuration()
        destinationConfiguration.eagerZeroMap = false  // free pages must fault to be measured
        if let placingThreads { destinationConfiguration.placingThreads = placingThreads }
        destinationConfiguration.streamCPUs = streamCPUs
        let destination: PostcopyDestination
        do {
            destination = try PostcopyDestination.connect(to: listener.endpoint, configuration: destinationConfiguration)
        } catch {
            server.join()
            throw error
        }
        if faultClass == .free {
            // Touching before the bitmap arrives would ask the source instead.
            let deadline = ContinuousClock.now + .seconds(10)
            while !destination.hasSkipBitmap && ContinuousClock.now < deadline { usleep(100) }
            guard destination.hasSkipBitmap else { throw Failure(description: "the skip bitmap never arrived") }
        }
        var nanoseconds = [UInt64](repeating: 0, count: pages)
        let base = UnsafeRawPointer(bitPattern: destination.region.start)!.assumingMemoryBound(to: UInt8.self)
        LocalFaults.touch(base, pages: pages, order: order == .random ? permutation : nil, into: &nanoseconds)
        // The last page: with no stream, the migration ends only when it is asked for.
        var last: UInt64 = 0
        _ = floor_touch(base + pages * pageSize, 1, pageSize, &last)
        _ = try destination.waitForCompletion()
        server.join()
        _ = try outcome.withLock { $0! }.get()
        for page in 0..<total {
            let expected = faultClass == .free && page < pages ? 0 : UInt64(page + 1)
            let got = UnsafeRawPointer(base + page * pageSize).load(as: UInt64.self)
            guard got == expected else {
                throw Failure(description: "page \(page) holds \(got), not \(expected): the migration lost data")
            }
        }
        return nanoseconds
    }
}
