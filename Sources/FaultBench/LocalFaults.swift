#if canImport(Glibc)
import Glibc
#endif
import CFloor
import SystemCalls
import UFFDCore

/// Local faults: one thread touching every page of a fresh region once,
/// served by the minimal C handler or by a UFFDCore handler. The touching loop
/// is the same C code in both cases, so only the handler differs.
public enum LocalFaults {
    public enum Handler: String, Codable, CaseIterable, Sendable { case c = "C floor", swift = "UFFDCore" }
    public enum Kind: String, Codable, CaseIterable, Sendable { case zeroPage = "zero", copy = "copy" }

    public struct Round: Codable, Sendable {
        public var handler: Handler
        public var kind: Kind
        public var latencyNanoseconds: Summary
    }

    /// Runs `rounds` rounds of each handler and kind, interleaved so drift
    /// in the machine affects both alike.
    public static func run(pages: Int, rounds: Int) throws -> [Round] {
        var results: [Round] = []
        for round in 0..<rounds {
            for kind in Kind.allCases {
                // Alternate which handler goes first from round to round.
                let order = round % 2 == 0 ? Handler.allCases : Handler.allCases.reversed()
                for handler in order {
                    let latencies = try measure(handler: handler, kind: kind, pages: pages)
                    results.append(Round(handler: handler, kind: kind, latencyNanoseconds: Summary(latencies)))
                }
            }
        }
        return results
    }

    /// One round: a fresh region of `pages` pages, registered MISSING, every
    /// page touched once, in `order` (a permutation of the pages) if given;
    /// returns the per-touch latencies in nanoseconds.
    static func measure(handler: Handler, kind: Kind, pages: Int, order: [UInt32]? = nil) throws -> [Double] {
        let pageSize = SystemPage.size
        let region = try MemoryMapping(anonymousLength: pages * pageSize)
        let source = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { source.deallocate() }
        source.initializeMemory(as: UInt8.self, repeating: 0xA5, count: pageSize)
        var nanoseconds = [UInt64](repeating: 0, count: pages)

        switch handler {
        case .c:
            let uffd = floor_uffd_open()
            precondition(uffd >= 0, "C floor: userfaultfd: errno \(errno)")
            defer { close(uffd) }
            precondition(floor_uffd_register(uffd, region.base, region.length) == 0, "C floor: register: errno \(errno)")
            var thread = pthread_t()
            precondition(floor_handler_start(&thread, uffd, kind == .zeroPage ? Int32(FLOOR_ZEROPAGE.rawValue) : Int32(FLOOR_COPY.rawValue),
                                             source, pageSize, pages) == 0)
            touch(region.base.assumingMemoryBound(to: UInt8.self), pages: pages, order: order, into: &nanoseconds)
            precondition(floor_handler_join(thread) == pages, "C floor handler failed")

        case .swift:
            // Blocking descriptor, like the C floor: one read per wake-up, no poll.
            let uffd = try Userfaultfd(nonBlocking: false)
            try uffd.register(region.range, mode: .missing)
            let sourceAddress = UInt(bitPattern: source)
            let failure = LockedValue<String?>(nil)
            let thread = DedicatedThread(name: "UFFDCore handler") {
                do { try serve(uffd, kind: kind, source: sourceAddress, faults: pages) } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }
            touch(region.base.assumingMemoryBound(to: UInt8.self), pages: pages, order: order, into: &nanoseconds)
            thread.join()
            if let failure = failure.withLock({ $0 }) { fatalError("UFFDCore handler failed: \(failure)") }
        }
        return nanoseconds.map { Double($0) }
    }

    /// The C touching loop: in page order, or in `order`.
    static func touch(_ base: UnsafePointer<UInt8>, pages: Int, order: [UInt32]?, into nanoseconds: inout [UInt64]) {
        if let order {
            _ = order.withUnsafeBufferPointer { floor_touch_order(base, $0.baseAddress, pages, SystemPage.size, &nanoseconds) }
        } else {
            _ = floor_touch(base, pages, SystemPage.size, &nanoseconds)
        }
    }

    /// The UFFDCore handler: what a user of the library would write.
    static func serve(_ uffd: Userfaultfd, kind: Kind, source: UInt, faults: Int) throws {
        var buffer = EventBuffer(capacity: 16)
        let pageSize = SystemPage.size
        let sourcePointer = UnsafeRawPointer(bitPattern: source)!
        var served = 0
        while served < faults {
            try uffd.readEvents(into: &buffer) { event in
                guard case .pageFault(let fault) = event else { return }
                let page = MemoryRange(start: fault.address & ~UInt(pageSize - 1), length: pageSize)
                switch kind {
                case .zeroPage: _ = try uffd.zeroPage(page)
                case .copy: _ = try uffd.copy(to: page, from: sourcePointer)
                }
                served += 1
            }
        }
    }
}
