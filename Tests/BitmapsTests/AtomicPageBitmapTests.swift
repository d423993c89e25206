import Bitmaps
import Foundation
import Synchronization
import SeededRandom
import SystemCalls
import Testing
import Watchdog

@Suite("AtomicPageBitmap", .watchdog)
struct AtomicPageBitmapTests {
    /// What the racing threads share besides the bitmap (a class, because the
    /// noncopyable LockedValue and Atomic cannot be captured by escaping closures).
    final class Race: Sendable {
        /// Each thread's "I was first" pages.
        let firstPages = LockedValue<[PageBitmap]>([])
        /// Threads ready to start; they start together so that they really race.
        let ready = Atomic<Int>(0)
    }

    @Test("racing testAndSet: exactly one thread is first for every page")
    func racingTestAndSet() async {
        let pageCount = 100_000
        let threadCount = 8
        let shared = AtomicPageBitmap(pageCount: pageCount)
        let race = Race()
        let finished = DispatchGroup()

        for thread in 0..<threadCount {
            finished.enter()
            Thread {
                // Different orders: forwards, backwards, and seeded shuffles.
                var order = Array(0..<pageCount)
                switch thread {
                case 0: break
                case 1: order.reverse()
                default:
                    var generator = SplitMix64(seed: UInt64(thread))
                    order.shuffle(using: &generator)
                }
                var mine = PageBitmap(pageCount: pageCount)
                race.ready.add(1, ordering: .relaxed)
                // Sleep rather than yield while waiting: 8 threads spinning on
                // 2 CPUs starve everything else (and crawl under TSan).
                while race.ready.load(ordering: .relaxed) < threadCount { usleep(50) }
                for page in order where !shared.testAndSet(page) {
                    mine.insert(page)
                }
                race.firstPages.withLock { $0.append(mine) }
                finished.leave()
            }.start()
        }
        await withCheckedContinuation { continuation in
            finished.notify(queue: .global()) { continuation.resume() }
        }

        let perThread = race.firstPages.withLock { $0 }
        #expect(perThread.count == threadCount)
        // Disjoint (the counts add up to the page count) and covering (the union is full).
        #expect(perThread.reduce(0) { $0 + $1.count } == pageCount)
        let union = perThread.reduce(PageBitmap(pageCount: pageCount)) { $0.union($1) }
        #expect(union.isFull)
        #expect(shared.count == pageCount)
        #expect(shared.snapshot() == PageBitmap(repeating: true, pageCount: pageCount))
    }

    @Test("single pages and ranges match a PageBitmap", arguments: interestingPageCounts)
    func matchesPageBitmap(pageCount: Int) {
        var generator = SplitMix64(seed: 11 &+ UInt64(pageCount))
        let atomic = AtomicPageBitmap(pageCount: pageCount)
        var reference = PageBitmap(pageCount: pageCount)
        #expect(atomic.count == 0)
        #expect(atomic.snapshot() == reference)
        guard pageCount > 0 else { return }
        for _ in 0..<100 {
            if Bool.random(using: &generator) {
                let page = Int.random(in: 0..<pageCount, using: &generator)
                #expect(atomic.testAndSet(page) == reference.contains(page))
                reference.insert(page)
                #expect(atomic.contains(page))
            } else {
                let a = Int.random(in: 0...pageCount, using: &generator)
                let b = Int.random(in: 0...min(pageCount, a + 300), using: &generator)
                atomic.insert(contentsOf: min(a, b)..<max(a, b))
                reference.insert(contentsOf: min(a, b)..<max(a, b))
            }
        }
        #expect(atomic.snapshot() == reference)
        #expect(atomic.count == reference.count)
        let probes = (0..<pageCount).filter { atomic.contains($0) != reference.contains($0) }
        #expect(probes.isEmpty)
    }

    @Test("formUnion sets the pages of a PageBitmap", arguments: interestingPageCounts)
    func formUnion(pageCount: Int) {
        var generator = SplitMix64(seed: 13 &+ UInt64(pageCount))
        let first = bitmap(randomPages(pageCount: pageCount, density: 0.2, using: &generator), pageCount: pageCount)
        let second = bitmap(randomPages(pageCount: pageCount, density: 0.2, using: &generator), pageCount: pageCount)
        let atomic = AtomicPageBitmap(pageCount: pageCount)
        atomic.formUnion(first)
        #expect(atomic.snapshot() == first)
        atomic.formUnion(second)
        #expect(atomic.snapshot() == first.union(second))
        #expect(atomic.count == first.union(second).count)
    }
}
