import SystemCalls
import SystemPackage
import Testing
import UFFDCore
import Watchdog

@Suite("CPUSet", .watchdog)
struct CPUSetTests {
    @Test("CPU lists parse as taskset -c writes them, and print back in their shortest form",
          arguments: [("1", [1], "1"), ("0-3", [0, 1, 2, 3], "0-3"), ("0,2-3,8", [0, 2, 3, 8], "0,2-3,8"),
                      ("3,1,2", [1, 2, 3], "1-3"), ("5-5,5", [5], "5"), ("1023", [1023], "1023")])
    func parses(list: String, cpus: [Int], printed: String) throws {
        let set = try CPUSet(parsing: list)
        #expect(set.cpus == cpus)
        #expect(set.description == printed)
        #expect(try CPUSet(parsing: printed) == set)
    }

    @Test("What is not a CPU list is refused, naming the list",
          arguments: ["", ",", "1,", "a", "-1", "3-1", "1-2-3", "+1", "1024", "0-1024", " 1", "١"])
    func refuses(list: String) {
        #expect(throws: CPUSet.ParseError(list: list)) { try CPUSet(parsing: list) }
        #expect(CPUSet.ParseError(list: list).description.contains("'\(list)'"))
    }

    @Test("The mask has CPU n at bit n % 8 of byte n / 8")
    func mask() {
        let mask = CPUSet([0, 9, 1023]).mask
        #expect(mask.count == 128)
        #expect(mask[0] == 1 && mask[1] == 2 && mask[127] == 0x80)
        #expect(mask.enumerated().allSatisfy { [0, 1, 127].contains($0.offset) || $0.element == 0 })
    }

    /// Runs `body` on a thread of its own: affinity set on a test's thread
    /// would stay with the pool thread that runs the next test.
    private func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let result = LockedValue<Result<T, any Error>?>(nil)
        let thread = DedicatedThread(name: "affinity") { result.withLock { $0 = Result(catching: body) } }
        thread.join()
        return try result.withLock { $0! }.get()
    }

    @Test("A confined thread runs only on its set, and a thread it starts inherits the set")
    func confines() throws {
        let cpu = try CPUSet.currentThreadAffinity().cpus.last!
        let (own, child) = try onOwnThread { () throws -> (CPUSet, CPUSet) in
            try CPUSet([cpu]).confineCurrentThread()
            let own = try CPUSet.currentThreadAffinity()
            let childSet = LockedValue<Result<CPUSet, Errno>?>(nil)
            DedicatedThread(name: "child") {
                childSet.withLock { $0 = Result { () throws(Errno) in try CPUSet.currentThreadAffinity() } }
            }.join()
            return (own, try childSet.withLock { $0! }.get())
        }
        #expect(own == CPUSet([cpu]))
        #expect(child == CPUSet([cpu]))
    }

    @Test("CPUs the kernel does not allow are refused: none (EINVAL), or some, naming those it granted; the caller's own affinity is untouched")
    func unavailable() throws {
        let allowed = try CPUSet.currentThreadAffinity()
        // 1023 is beyond this machine's CPUs; anywhere it exists, skip.
        try #require(!allowed.cpus.contains(1023))
        let none = CPUSet([1023])
        #expect(throws: CPUSet.ConfinementError.unavailable(requested: none, granted: nil)) { try none.checkAvailable() }
        let some = CPUSet([allowed.cpus[0], 1023])
        #expect(throws: CPUSet.ConfinementError.unavailable(requested: some, granted: CPUSet([allowed.cpus[0]]))) {
            try some.checkAvailable()
        }
        #expect(CPUSet.ConfinementError.unavailable(requested: some, granted: CPUSet([allowed.cpus[0]])).description
                .contains("only CPUs \(allowed.cpus[0]) are online"))
        let confining = try onOwnThread { () -> CPUSet.ConfinementError? in
            do throws(CPUSet.ConfinementError) {
                try none.confineCurrentThread()
                return nil
            } catch {
                return error
            }
        }
        #expect(confining == .unavailable(requested: none, granted: nil))
        #expect(try CPUSet.currentThreadAffinity() == allowed)  // checkAvailable ran elsewhere
        try allowed.checkAvailable()
    }

    @Test("A dedicated thread carries its name, cut to the kernel's 15 bytes, in /proc")
    func threadNames() throws {
        let names = LockedValue<[String]>([])
        for name in ["bulk lane", "a name longer than fifteen bytes"] {
            DedicatedThread(name: name) {
                let comm = (try? String(contentsOfProcFile: "/proc/thread-self/comm")) ?? "?"
                names.withLock { $0.append(comm) }
            }.join()
        }
        #expect(names.withLock { $0 } == ["bulk lane", "a name longer t"])
    }
}

extension String {
    /// A /proc file's text without its final newline.
    init(contentsOfProcFile path: String) throws {
        let descriptor = try FileDescriptor.open(path, .readOnly)
        defer { try? descriptor.close() }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = try bytes.withUnsafeMutableBytes { try descriptor.read(into: $0) }
        self = String(decoding: bytes[..<count], as: UTF8.self)
        if hasSuffix("\n") { removeLast() }
    }
}
