import Bitmaps
import SeededRandom
import Testing
import Watchdog

/// Page counts around the word size, plus larger odd ones.
let interestingPageCounts = [0, 1, 63, 64, 65, 1000, 100_003]

/// A bitmap with exactly the pages of `pages` set.
func bitmap(_ pages: some Sequence<Int>, pageCount: Int) -> PageBitmap {
    var result = PageBitmap(pageCount: pageCount)
    for page in pages { result.insert(page) }
    return result
}

/// The set pages of `bitmap`, read one page at a time (independent of the word
/// scanning under test).
func setPages(of bitmap: PageBitmap) -> Set<Int> {
    Set((0..<bitmap.pageCount).filter { bitmap[$0] })
}

/// A random set of about `density` of the pages `0..<pageCount`.
func randomPages(pageCount: Int, density: Double, using generator: inout SplitMix64) -> Set<Int> {
    Set((0..<pageCount).filter { _ in Double.random(in: 0..<1, using: &generator) < density })
}

/// Whether the padding bits of the last word are zero.
func paddingIsZero(_ bitmap: PageBitmap) -> Bool {
    guard let last = bitmap.words.last, bitmap.pageCount % 64 != 0 else { return true }
    return last >> UInt64(bitmap.pageCount % 64) == 0
}

@Suite("PageBitmap", .watchdog)
struct PageBitmapTests {
    @Test("new bitmaps are empty or full", arguments: interestingPageCounts)
    func initialState(pageCount: Int) {
        let empty = PageBitmap(pageCount: pageCount)
        #expect(empty.pageCount == pageCount)
        #expect(empty.count == 0)
        #expect(empty.isEmpty)
        #expect(empty.isFull == (pageCount == 0))
        #expect(empty.words.count == (pageCount + 63) / 64)

        let full = PageBitmap(repeating: true, pageCount: pageCount)
        #expect(full.count == pageCount)
        #expect(full.isFull)
        #expect(full.isEmpty == (pageCount == 0))
        #expect(paddingIsZero(full))
        #expect(full == empty.complement())
    }

    @Test("single-page operations match a Set", arguments: interestingPageCounts)
    func singlePagesMatchSet(pageCount: Int) {
        var generator = SplitMix64(seed: UInt64(pageCount) &+ 1)
        var bitmap = PageBitmap(pageCount: pageCount)
        var reference = Set<Int>()
        guard pageCount > 0 else { return }
        for _ in 0..<(3 * pageCount + 100) {
            let page = Int.random(in: 0..<pageCount, using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                #expect(bitmap.insert(page) == reference.insert(page).inserted)
            case 1:
                #expect(bitmap.remove(page) == (reference.remove(page) != nil))
            case 2:
                let value = Bool.random(using: &generator)
                bitmap[page] = value
                if value { reference.insert(page) } else { reference.remove(page) }
            default:
                #expect(bitmap.contains(page) == reference.contains(page))
            }
        }
        #expect(setPages(of: bitmap) == reference)
        #expect(bitmap.count == reference.count)
        #expect(bitmap.isEmpty == reference.isEmpty)
        #expect(bitmap.isFull == (reference.count == pageCount))
        #expect(paddingIsZero(bitmap))
    }

    @Test("range insert and remove at word boundaries match a Set")
    func rangesAtWordBoundaries() {
        let pageCount = 1000
        let edges = [0, 1, 62, 63, 64, 65, 127, 128, 129, 191, 192, 500, 959, 960, 961, 998, 999, 1000]
        for lower in edges {
            for upper in edges where upper >= lower {
                var bitmap = PageBitmap(pageCount: pageCount)
                bitmap.insert(contentsOf: lower..<upper)
                #expect(setPages(of: bitmap) == Set(lower..<upper), "insert \(lower)..<\(upper)")
                #expect(bitmap.count == upper - lower)

                var full = PageBitmap(repeating: true, pageCount: pageCount)
                full.remove(contentsOf: lower..<upper)
                #expect(setPages(of: full) == Set(0..<pageCount).subtracting(lower..<upper),
                        "remove \(lower)..<\(upper)")
                #expect(paddingIsZero(full))
            }
        }
    }

    @Test("random range operations match a Set", arguments: interestingPageCounts)
    func randomRangesMatchSet(pageCount: Int) {
        var generator = SplitMix64(seed: 0xC0FFEE &+ UInt64(pageCount))
        var bitmap = PageBitmap(pageCount: pageCount)
        var reference = Set<Int>()
        for _ in 0..<200 {
            let a = Int.random(in: 0...pageCount, using: &generator)
            let b = Int.random(in: 0...pageCount, using: &generator)
            let range = min(a, b)..<max(a, b)
            if Bool.random(using: &generator) {
                bitmap.insert(contentsOf: range)
                reference.formUnion(range)
            } else {
                bitmap.remove(contentsOf: range)
                reference.subtract(range)
            }
        }
        #expect(setPages(of: bitmap) == reference)
        #expect(bitmap.count == reference.count)
        #expect(paddingIsZero(bitmap))
    }

    @Test("set algebra matches Set algebra", arguments: interestingPageCounts)
    func algebraMatchesSet(pageCount: Int) {
        var generator = SplitMix64(seed: 42 &+ UInt64(pageCount))
        let a = randomPages(pageCount: pageCount, density: 0.5, using: &generator)
        let b = randomPages(pageCount: pageCount, density: 0.3, using: &generator)
        let bitmapA = bitmap(a, pageCount: pageCount)
        let bitmapB = bitmap(b, pageCount: pageCount)

        #expect(setPages(of: bitmapA.union(bitmapB)) == a.union(b))
        #expect(setPages(of: bitmapA.intersection(bitmapB)) == a.intersection(b))
        #expect(setPages(of: bitmapA.subtracting(bitmapB)) == a.subtracting(b))
        #expect(setPages(of: bitmapA.complement()) == Set(0..<pageCount).subtracting(a))

        var mutated = bitmapA
        mutated.formUnion(bitmapB)
        #expect(mutated == bitmapA.union(bitmapB))
        mutated = bitmapA
        mutated.formIntersection(bitmapB)
        #expect(mutated == bitmapA.intersection(bitmapB))
        mutated = bitmapA
        mutated.subtract(bitmapB)
        #expect(mutated == bitmapA.subtracting(bitmapB))
        mutated = bitmapA
        mutated.formComplement()
        #expect(mutated == bitmapA.complement())
        mutated.formComplement()
        #expect(mutated == bitmapA)
    }

    @Test("complement-like operations keep the padding zero", arguments: interestingPageCounts)
    func paddingStaysZero(pageCount: Int) {
        var bitmap = PageBitmap(pageCount: pageCount)
        bitmap.formComplement()
        #expect(paddingIsZero(bitmap))
        #expect(bitmap.count == pageCount)
        #expect(bitmap.isFull)
        bitmap.remove(contentsOf: 0..<pageCount / 2)
        let flipped = bitmap.complement()
        #expect(paddingIsZero(flipped))
        #expect(flipped.count == pageCount / 2)
        #expect(paddingIsZero(PageBitmap(repeating: true, pageCount: pageCount).subtracting(flipped)))
    }

    @Test("firstSet and firstClear find the next page of each value", arguments: interestingPageCounts)
    func firstSetAndFirstClear(pageCount: Int) {
        var generator = SplitMix64(seed: 7 &+ UInt64(pageCount))
        // Sparse, dense and long-run patterns stress both searches.
        for density in [0.01, 0.5, 0.99] {
            let pages = randomPages(pageCount: pageCount, density: density, using: &generator)
            let bitmap = bitmap(pages, pageCount: pageCount)
            // Computed backwards from a Set, independently of the word scan.
            var nextSet: Int? = nil
            var nextClear: Int? = nil
            var wrongStarts: [Int] = []
            for start in stride(from: pageCount, through: 0, by: -1) {
                if start < pageCount {
                    if pages.contains(start) { nextSet = start } else { nextClear = start }
                }
                if bitmap.firstSet(from: start) != nextSet || bitmap.firstClear(from: start) != nextClear {
                    wrongStarts.append(start)
                }
            }
            #expect(wrongStarts.isEmpty, "density \(density)")
        }
    }

    @Test("firstClear never reports padding bits")
    func firstClearStopsAtPageCount() {
        let full = PageBitmap(repeating: true, pageCount: 65)
        #expect(full.firstClear(from: 0) == nil)
        #expect(full.firstClear(from: 64) == nil)
        #expect(full.firstClear(from: 65) == nil)
    }

    @Test("words round-trip and padding is validated")
    func wordsInitializer() throws {
        var original = PageBitmap(pageCount: 130)
        original.insert(contentsOf: 3..<70)
        original.insert(129)
        let rebuilt = try #require(PageBitmap(words: original.words, pageCount: 130))
        #expect(rebuilt == original)
        #expect(rebuilt.hashValue == original.hashValue)

        #expect(PageBitmap(words: [0, 0, 0b100], pageCount: 130) == nil, "bit 130 is padding")
        #expect(PageBitmap(words: [0, 0], pageCount: 130) == nil, "too few words")
        #expect(PageBitmap(words: [0, 0, 0, 0], pageCount: 130) == nil, "too many words")
        #expect(PageBitmap(words: [], pageCount: 0) == PageBitmap(pageCount: 0))
        #expect(PageBitmap(words: [.max], pageCount: 64) == PageBitmap(repeating: true, pageCount: 64))
    }

    @Test("description lists the first runs")
    func description() {
        var bitmap = PageBitmap(pageCount: 100)
        bitmap.insert(contentsOf: 0..<3)
        bitmap.insert(5)
        bitmap.insert(contentsOf: 10..<20)
        #expect(bitmap.description == "PageBitmap(100 pages, 14 set: 0..<3, 5, 10..<20)")
        #expect(PageBitmap(pageCount: 8).description == "PageBitmap(8 pages, 0 set)")
    }
}
