#if canImport(Glibc)
import Glibc
#endif
import CThread
import SystemPackage

/// A set of CPUs, as `sched_setaffinity(2)` takes them, written the way
/// `taskset -c` and cpuset files write them: `0-3,8`.
///
/// For confining threads: the background stream's, so that the threads that
/// serve faults (and the application's) find a CPU free when they wake.
public struct CPUSet: Hashable, Sendable, CustomStringConvertible {
    /// The largest CPU number a set can hold, plus one: glibc's
    /// `CPU_SETSIZE`, which is also the mask size the calls here pass.
    public static let capacity = 1024

    /// The CPUs, ascending, without repeats; never empty.
    public let cpus: [Int]

    /// A set of the given CPUs.
    ///
    /// - Precondition: `cpus` is not empty, and each is in 0..<`capacity`.
    public init(_ cpus: some Sequence<Int>) {
        let sorted = Set(cpus).sorted()
        precondition(!sorted.isEmpty, "a CPU set holds at least one CPU")
        precondition(sorted.first! >= 0 && sorted.last! < Self.capacity, "CPU numbers are 0..<\(Self.capacity): \(sorted)")
        self.cpus = sorted
    }

    /// Why a CPU list did not parse.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// The list as given.
        public let list: String
        public init(list: String) { self.list = list }
        public var description: String {
            "'\(list)' is not a CPU list: give CPU numbers 0...\(CPUSet.capacity - 1) and ranges, comma-separated, such as 1 or 0-3,8."
        }
    }

    /// Parses a list such as `1`, `0-3` or `0,2-3,8`.
    ///
    /// - Throws: `ParseError` for an empty list or item, a number that is
    ///   not a decimal in 0..<`capacity`, or a range whose end is below its
    ///   start.
    public init(parsing list: String) throws(ParseError) {
        var cpus: [Int] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            // Int("+1") parses, "+" is no part of a CPU list: digits only.
            let numbers = bounds.map { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) ? Int($0) : nil }
            guard let first = numbers.first ?? nil, let last = numbers.last ?? nil,
                  first <= last, last < Self.capacity else { throw ParseError(list: list) }
            cpus.append(contentsOf: first...last)
        }
        guard !cpus.isEmpty else { throw ParseError(list: list) }
        self.init(cpus)
    }

    /// The list form: runs of consecutive CPUs as ranges (`0-3,8`).
    public var description: String {
        var parts: [String] = []
        var start = cpus[0], end = cpus[0]
        for cpu in cpus.dropFirst() {
            if cpu == end + 1 { end = cpu; continue }
            parts.append(start == end ? "\(start)" : "\(start)-\(end)")
            (start, end) = (cpu, cpu)
        }
        parts.append(start == end ? "\(start)" : "\(start)-\(end)")
        return parts.joined(separator: ",")
    }

    /// The set as `sched_setaffinity(2)` takes it: `capacity / 8` bytes,
    /// CPU n at bit n % 8 of byte n / 8.
    public var mask: [UInt8] {
        var mask = [UInt8](repeating: 0, count: Self.capacity / 8)
        for cpu in cpus { mask[cpu / 8] |= 1 << (cpu % 8) }
        return mask
    }

    /// Why threads cannot be confined to a set.
    public enum ConfinementError: Error, Equatable, CustomStringConvertible {
        /// The kernel allows only `granted` of the CPUs asked for (nil:
        /// none): the others are offline, absent, or outside the process's
        /// cpuset.
        case unavailable(requested: CPUSet, granted: CPUSet?)
        /// `call` failed with `errno`.
        case systemCall(requested: CPUSet, call: String, errno: Errno)

        public var description: String {
            switch self {
            case .unavailable(let requested, let granted?):
                return "cannot confine threads to CPUs \(requested): of those, only CPUs \(granted) are online and allowed to this process (its cpuset)"
            case .unavailable(let requested, nil):
                return "cannot confine threads to CPUs \(requested): none of them is online and allowed to this process (its cpuset)"
            case .systemCall(let requested, let call, let errno):
                return "cannot confine threads to CPUs \(requested): \(call) failed: \(errno)"
            }
        }
    }

    /// Checks that a thread can be confined to exactly this set, by
    /// confining a short-lived thread of its own: a configuration's early
    /// check, before any thread depends on it. The calling thread is left
    /// alone. (The process's own affinity is no bound: a thread may move
    /// anywhere in its cpuset, such as to CPUs kept free of the application.)
    ///
    /// - Throws: What `confineCurrentThread` would throw.
    /// - Complexity: One thread created and joined.
    public func checkAvailable() throws(ConfinementError) {
        let failure = LockedValue<ConfinementError?>(nil)
        DedicatedThread(name: "CPU set probe") {
            do throws(ConfinementError) {
                try self.confineCurrentThread()
            } catch {
                failure.withLock { $0 = error }
            }
        }.join()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Confines the calling thread to these CPUs (`sched_setaffinity(2)` on
    /// the thread), and reads the set back: the kernel silently leaves out
    /// CPUs outside the process's cpuset. Threads it starts afterwards
    /// inherit the set.
    ///
    /// - Throws: `unavailable` when the kernel allows the thread fewer CPUs
    ///   (EINVAL: none), `systemCall` for any other failure (EPERM without
    ///   the privilege). On `unavailable` with some CPUs granted, the thread
    ///   stays confined to those.
    public func confineCurrentThread() throws(ConfinementError) {
        let mask = self.mask
        let result = SystemCall.retryingInterrupts { mask.withUnsafeBufferPointer { cthread_set_affinity($0.baseAddress, $0.count) } }
        switch result {
        case .success: break
        case .failure(.invalidArgument): throw .unavailable(requested: self, granted: nil)
        case .failure(let errno): throw .systemCall(requested: self, call: "sched_setaffinity", errno: errno)
        }
        let granted: CPUSet
        do {
            granted = try Self.currentThreadAffinity()
        } catch {
            throw .systemCall(requested: self, call: "sched_getaffinity", errno: error)
        }
        guard granted == self else { throw .unavailable(requested: self, granted: granted) }
    }

    /// The CPUs the calling thread may run on (`sched_getaffinity(2)`).
    public static func currentThreadAffinity() throws(Errno) -> CPUSet {
        var mask = [UInt8](repeating: 0, count: capacity / 8)
        let result = SystemCall.retryingInterrupts { mask.withUnsafeMutableBufferPointer { cthread_get_affinity($0.baseAddress, $0.count) } }
        if case .failure(let errno) = result { throw errno }
        let cpus = (0..<capacity).filter { mask[$0 / 8] & (1 << ($0 % 8)) != 0 }
        // A running thread may always run somewhere.
        precondition(!cpus.isEmpty, "sched_getaffinity returned an empty mask")
        return CPUSet(cpus)
    }
}

