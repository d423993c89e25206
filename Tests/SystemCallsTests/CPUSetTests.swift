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
        let (own, child) = try onOwnThread { () throws -> (CPUSet, CPUSet) in
            try CPUSet([0]).confineCurrentThread()
            let own = try CPUSet.currentThreadAffinity()
            let childSet = LockedValue<Result<CPUSet, Errno>?>(nil)
            DedicatedThread(name: "child") {
                childSet.withLock { $0 = Result { () throws(Errno) in try CPUSet.currentThreadAffinity() } }
            }.join()
            return (own, try childSet.withLock { $0! }.get())
        }
        #expect(own == CPUSet([0]))
        #expect(child == CPUSet([0]))
    }

    @Test("A CPU this process may not run on is refused: checkAvailable names the allowed set, confining gets EINVAL")
    func unavailable() throws {
        let allowed = try CPUSet.currentThreadAffinity()
        // 1023 is beyond this machine's CPUs; anywhere it exists, skip.
        try #require(!allowed.cpus.contains(1023))
        let error = #expect(throws: CPUSet.ConfinementError.self) { try CPUSet([1023]).checkAvailable() }
        #expect(error == CPUSet.ConfinementError(requested: CPUSet([1023]), allowed: allowed, errno: nil))
        #expect(error?.description.contains("only on CPUs \(allowed)") == true)
        let confining = try onOwnThread { () -> CPUSet.ConfinementError? in
            do throws(CPUSet.ConfinementError) {
                try CPUSet([1023]).confineCurrentThread()
                return nil
            } catch {
                return error
            }
        }
        #expect(confining == CPUSet.ConfinementError(requested: CPUSet([1023]), allowed: nil, errno: .invalidArgument))
        #expect(try CPUSet.currentThreadAffinity() == allowed)  // this thread untouched
    }
}
