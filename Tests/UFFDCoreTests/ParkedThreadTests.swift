#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("ParkedThread", .watchdog)
struct ParkedThreadTests {
    @Test("runs the first body it is given, on a thread of its own, and only that one")
    func runsFirstBody() {
        let ran = LockedValue<[String]>([])
        let caller = pthread_self()
        let thread = ParkedThread(name: "test")
        usleep(20_000)  // parked: nothing runs before `run`
        #expect(ran.withLock { $0 }.isEmpty)
        thread.run { ran.withLock { $0.append(pthread_equal(pthread_self(), caller) != 0 ? "caller" : "own") } }
        thread.run { ran.withLock { $0.append("second") } }
        thread.join()
        #expect(ran.withLock { $0 } == ["own"])
    }

    @Test("joining a thread never given a body releases it instead of waiting for ever")
    func joinWithoutWork() {
        let thread = ParkedThread(name: "idle")
        thread.join()
        thread.join()  // idempotent
    }
}
