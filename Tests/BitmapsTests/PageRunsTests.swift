import Bitmaps
import SeededRandom
import Testing
import Watchdog

/// Checks that `runs` are the maximal runs of `value` in `bitmap` within `pages`:
/// ordered, non-empty, separated by at least one other page, covering exactly
/// the pages of `value`.
func expectMaximalRuns(
    _ runs: [Range<Int>], of value: Bool, in bitmap: PageBitmap, pages: Range<Int>,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    // Collected and reported once, so a broken run list gives one readable failure.
    var problems: [String] = []
    var covered = Set<Int>()
    var previousEnd: Int? = nil
    for run in runs {
        if run.isEmpty { problems.append("empty run \(run)") }
        if run.lowerBound < pages.lowerBound || run.upperBound > pages.upperBound {
            problems.append("run \(run) outside \(pages)")
        }
        if let previousEnd, run.lowerBound <= previousEnd {
            problems.append("run \(run) touches or overlaps the previous one")
        }
        // Maximal: the pages just outside the run (within `pages`) differ.
        if run.lowerBound > pages.lowerBound, bitmap[run.lowerBound - 1] == value {
            problems.append("run \(run) could start earlier")
        }
        if run.upperBound < pages.upperBound, bitmap[run.upperBound] == value {
            problems.append("run \(run) could end later")
        }
        covered.formUnion(run)
        previousEnd = run.upperBound
    }
    if covered != Set(pages.filter { bitmap[$0] == value }) {
        problems.append("runs do not cover exactly the pages equal to \(value)")
    }
    #expect(problems.isEmpty, "\(problems.prefix(5))", sourceLocation: sourceLocation)
}

@Suite("PageBitmap runs", .watchdog)
struct PageRunsTests {
    @Test("runs of set and clear pages are maximal and reconstruct the bitmap",
          arguments: interestingPageCounts)
    func runsReconstruct(pageCount: Int) {
        var generator = SplitMix64(seed: 99 &+ UInt64(pageCount))
        for density in [0.0, 0.02, 0.5, 0.98, 1.0] {
            // Runs of random lengths, so that both long runs and single pages occur.
            var original = PageBitmap(pageCount: pageCount)
            var page = 0
            while page < pageCount {
                let length = min(pageCount - page, Int.random(in: 1...200, using: &generator))
                if Double.random(in: 0..<1, using: &generator) < density {
                    original.insert(contentsOf: page..<page + length)
                }
                page += length
            }
            for value in [true, false] {
                let runs = Array(original.runs(of: value))
                expectMaximalRuns(runs, of: value, in: original, pages: 0..<pageCount)

                var rebuilt = PageBitmap(repeating: !value, pageCount: pageCount)
                for run in runs {
                    if value { rebuilt.insert(contentsOf: run) } else { rebuilt.remove(contentsOf: run) }
                }
                #expect(rebuilt == original, "value \(value), density \(density)")
            }
        }
    }

    @Test("runs of random single pages are maximal", arguments: [64, 1000, 100_003])
    func runsOfRandomPages(pageCount: Int) {
        var generator = SplitMix64(seed: 5 &+ UInt64(pageCount))
        let pages = randomPages(pageCount: pageCount, density: 0.5, using: &generator)
        let original = bitmap(pages, pageCount: pageCount)
        expectMaximalRuns(Array(original.runs(of: true)), of: true, in: original, pages: 0..<pageCount)
        expectMaximalRuns(Array(original.runs(of: false)), of: false, in: original, pages: 0..<pageCount)
    }

    @Test("known runs, including runs that end at the last page")
    func knownRuns() {
        var bitmap = PageBitmap(pageCount: 200)
        bitmap.insert(contentsOf: 0..<64)
        bitmap.insert(contentsOf: 65..<66)
        bitmap.insert(contentsOf: 127..<129)
        bitmap.insert(contentsOf: 190..<200)
        #expect(Array(bitmap.runs(of: true)) == [0..<64, 65..<66, 127..<129, 190..<200])
        #expect(Array(bitmap.runs(of: false)) == [64..<65, 66..<127, 129..<190])
        #expect(Array(PageBitmap(pageCount: 0).runs(of: true)).isEmpty)
        #expect(Array(PageBitmap(pageCount: 0).runs(of: false)).isEmpty)
        #expect(Array(PageBitmap(repeating: true, pageCount: 130).runs(of: true)) == [0..<130])
        #expect(Array(PageBitmap(repeating: true, pageCount: 130).runs(of: false)).isEmpty)
    }

    @Test("runs within a sub-range are clipped to it and maximal within it")
    func runsInSubRange() {
        var generator = SplitMix64(seed: 2024)
        let pageCount = 1000
        var original = PageBitmap(pageCount: pageCount)
        var page = 0
        while page < pageCount {
            let length = min(pageCount - page, Int.random(in: 1...90, using: &generator))
            if Bool.random(using: &generator) { original.insert(contentsOf: page..<page + length) }
            page += length
        }
        let edges = [0, 1, 63, 64, 65, 300, 511, 512, 999, 1000]
        for lower in edges {
            for upper in edges where upper >= lower {
                for value in [true, false] {
                    let runs = Array(original.runs(of: value, in: lower..<upper))
                    expectMaximalRuns(runs, of: value, in: original, pages: lower..<upper)
                }
            }
        }

        var known = PageBitmap(pageCount: 200)
        known.insert(contentsOf: 10..<100)
        #expect(Array(known.runs(of: true, in: 50..<150)) == [50..<100])
        #expect(Array(known.runs(of: false, in: 50..<150)) == [100..<150])
        #expect(Array(known.runs(of: true, in: 20..<30)) == [20..<30])
        #expect(Array(known.runs(of: true, in: 100..<100)).isEmpty)
    }
}
