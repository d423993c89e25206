#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("CountingSemaphore", .watchdog)
struct CountingSemaphoreTests {
    @Test("wait blocks until another thread signals")
    func waitBlocks() {
        let semaphore = CountingSemaphore(value: 0)
        let passed = Counter()
        let waiter = DedicatedThread(name: "waiter") {
            semaphore.wait()
            passed.value.store(1, ordering: .releasing)
        }
        usleep(50_000)
        let early = passed.value.load(ordering: .acquiring)
        #expect(early == 0)
        semaphore.signal()
        waiter.join()
        let late = passed.value.load(ordering: .acquiring)
        #expect(late == 1)
    }

    @Test("two semaphores hand 20,000 items through a 4-slot ring in order, never more than 4 outstanding")
    func boundedHandoff() {
        let slots = 4, items = 20_000
        let free = CountingSemaphore(value: slots)
        let filled = CountingSemaphore(value: 0)
        let ring = LockedValue([Int](repeating: -1, count: slots))
        let outstanding = Counter()
        let most = Counter()
        let received = LockedValue<[Int]>([])
        let consumer = DedicatedThread(name: "consumer") {
            for index in 0..<items {
                filled.wait()
                let item = ring.withLock { $0[index % slots] }
                outstanding.value.subtract(1, ordering: .relaxed)
                received.withLock { $0.append(item) }
                free.signal()
            }
        }
        for index in 0..<items {
            free.wait()
            ring.withLock { $0[index % slots] = index }
            let now = outstanding.value.add(1, ordering: .relaxed).newValue
            most.value.max(now, ordering: .relaxed)
            filled.signal()
        }
        consumer.join()
        #expect(received.withLock { $0 } == Array(0..<items))
        let deepest = most.value.load(ordering: .relaxed)
        #expect(deepest <= slots)
    }
}

/// An atomic integer closures can share.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
