import Bitmaps
import SeededRandom
import Testing
import Watchdog

/// The size of the raw encoding of `pageCount` pages.
func rawEncodingSize(pageCount: Int) -> Int {
    var varintSize = 1
    var rest = pageCount >> 7
    while rest > 0 {
        varintSize += 1
        rest >>= 7
    }
    return 1 + varintSize + (pageCount + 7) / 8
}

func roundTrip(_ bitmap: PageBitmap) throws -> PageBitmap {
    try RunLengthCodec.decode(RunLengthCodec.encode(bitmap), expectedPageCount: bitmap.pageCount)
}

typealias DecodeError = RunLengthCodec.DecodeError

@Suite("RunLengthCodec", .watchdog)
struct RunLengthCodecTests {
    @Test("empty, all-clear and all-set bitmaps round-trip", arguments: interestingPageCounts)
    func uniformBitmaps(pageCount: Int) throws {
        for value in [false, true] {
            let original = PageBitmap(repeating: value, pageCount: pageCount)
            let encoded = RunLengthCodec.encode(original)
            #expect(encoded.count <= rawEncodingSize(pageCount: pageCount))
            #expect(try roundTrip(original) == original)
            if pageCount >= 1000 {
                #expect(encoded.count <= 8, "one run of \(pageCount) pages")
                #expect(encoded.first == RunLengthCodec.Format.runs.rawValue)
            }
        }
    }

    @Test("known encodings, byte for byte")
    func knownEncodings() {
        #expect(RunLengthCodec.encode(PageBitmap(pageCount: 0)) == [2, 0])
        // 300 pages all set: runs, first value 1, one run of 300 (0xAC 0x02).
        #expect(RunLengthCodec.encode(PageBitmap(repeating: true, pageCount: 300)) == [1, 0xAC, 0x02, 1, 0xAC, 0x02])
        // 1000 pages, set 0..<10 and 500..<1000: runs 10, 490, 500.
        var runs = PageBitmap(pageCount: 1000)
        runs.insert(contentsOf: 0..<10)
        runs.insert(contentsOf: 500..<1000)
        #expect(RunLengthCodec.encode(runs) == [1, 0xE8, 0x07, 1, 10, 0xEA, 0x03, 0xF4, 0x03])
        // 12 pages 0b1010_0101_1010: alternating runs cost more than 2 raw bytes.
        let raw = bitmap([1, 3, 4, 7, 9, 11], pageCount: 12)
        #expect(RunLengthCodec.encode(raw) == [2, 12, 0b1001_1010, 0b0000_1010])
    }

    @Test("single set and single clear pages at word and byte boundaries round-trip")
    func singlePages() throws {
        for pageCount in [1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000] {
            for page in Set([0, 1, 7, 8, 63, 64, 65, 127, 128, pageCount - 1]) where page < pageCount {
                let single = bitmap([page], pageCount: pageCount)
                #expect(try roundTrip(single) == single, "page \(page) of \(pageCount)")
                let allButOne = single.complement()
                #expect(try roundTrip(allButOne) == allButOne, "all but page \(page) of \(pageCount)")
            }
        }
    }

    @Test("random bitmaps of every density round-trip", arguments: interestingPageCounts)
    func randomBitmaps(pageCount: Int) throws {
        var generator = SplitMix64(seed: 31 &+ UInt64(pageCount))
        for density in [0.001, 0.1, 0.5, 0.9, 0.999] {
            let original = bitmap(randomPages(pageCount: pageCount, density: density, using: &generator),
                                  pageCount: pageCount)
            let encoded = RunLengthCodec.encode(original)
            #expect(encoded.count <= rawEncodingSize(pageCount: pageCount))
            #expect(try RunLengthCodec.decode(encoded, expectedPageCount: pageCount) == original)
            // Any Collection decodes, not only arrays.
            #expect(try RunLengthCodec.decode(encoded[...], expectedPageCount: pageCount) == original)
            #expect(try RunLengthCodec.decode(AnyCollection(encoded), expectedPageCount: pageCount) == original)
        }
    }

    @Test("a 50%-random million-page bitmap is encoded raw, near the raw size")
    func randomMillionPages() throws {
        let pageCount = 1 << 20
        var generator = SplitMix64(seed: 1)
        let words = (0..<pageCount / 64).map { _ in generator.next() }
        let original = try #require(PageBitmap(words: words, pageCount: pageCount))
        let encoded = RunLengthCodec.encode(original)
        #expect(encoded.first == RunLengthCodec.Format.raw.rawValue)
        #expect(encoded.count <= pageCount / 8 + 16)
        #expect(try RunLengthCodec.decode(encoded, expectedPageCount: pageCount) == original)
    }

    @Test("a million-page bitmap of about 100 long runs encodes in under 1 KiB")
    func longRunsMillionPages() throws {
        let pageCount = 1 << 20
        var generator = SplitMix64(seed: 2)
        var original = PageBitmap(pageCount: pageCount)
        for _ in 0..<100 {
            let start = Int.random(in: 0..<pageCount, using: &generator)
            let length = Int.random(in: 1...20_000, using: &generator)
            original.insert(contentsOf: start..<min(pageCount, start + length))
        }
        let encoded = RunLengthCodec.encode(original)
        #expect(encoded.first == RunLengthCodec.Format.runs.rawValue)
        #expect(encoded.count < 1024)
        #expect(try RunLengthCodec.decode(encoded, expectedPageCount: pageCount) == original)
    }

    @Test("every decode error, from crafted input")
    func decodeErrors() {
        #expect(throws: DecodeError.emptyInput) {
            try RunLengthCodec.decode([], expectedPageCount: 0)
        }
        #expect(throws: DecodeError.unknownFormatTag(3)) {
            try RunLengthCodec.decode([3, 0], expectedPageCount: 0)
        }
        #expect(throws: DecodeError.unknownFormatTag(0)) {
            try RunLengthCodec.decode([0], expectedPageCount: 0)
        }
        #expect(throws: DecodeError.pageCountMismatch(declared: 5, expected: 6)) {
            try RunLengthCodec.decode([1, 5, 0, 5], expectedPageCount: 6)
        }
        // A huge declared count is rejected before anything is allocated for it.
        #expect(throws: DecodeError.pageCountMismatch(declared: .max, expected: 10)) {
            try RunLengthCodec.decode([2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
                                      expectedPageCount: 10)
        }
        // Truncated: before the page count, mid-varint, before the first-run value,
        // before the runs cover every page, and in the raw body.
        #expect(throws: DecodeError.truncated(length: 1, minimumLength: 2)) {
            try RunLengthCodec.decode([1], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.truncated(length: 2, minimumLength: 3)) {
            try RunLengthCodec.decode([1, 0x80], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.truncated(length: 2, minimumLength: 3)) {
            try RunLengthCodec.decode([1, 10], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.truncated(length: 4, minimumLength: 5)) {
            try RunLengthCodec.decode([1, 10, 0, 4], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.truncated(length: 3, minimumLength: 4)) {
            try RunLengthCodec.decode([2, 16, 0xFF], expectedPageCount: 16)
        }
        // Varints: eleven bytes, and ten bytes whose last carries more than bit 63.
        #expect(throws: DecodeError.varintOverflow(offset: 1)) {
            try RunLengthCodec.decode([1] + Array(repeating: 0x80, count: 10) + [0x00], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.varintOverflow(offset: 3)) {
            try RunLengthCodec.decode([1, 10, 0] + Array(repeating: 0xFF, count: 9) + [0x02], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.runOverflow(runLength: 11, pagesRemaining: 10)) {
            try RunLengthCodec.decode([1, 10, 0, 11], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.runOverflow(runLength: 7, pagesRemaining: 6)) {
            try RunLengthCodec.decode([1, 10, 1, 4, 7], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.zeroLengthRun(offset: 4)) {
            try RunLengthCodec.decode([1, 10, 0, 4, 0, 6], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.invalidFirstRunValue(2)) {
            try RunLengthCodec.decode([1, 10, 2, 10], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.nonzeroPaddingBits(lastByte: 0x1F, usedBits: 4)) {
            try RunLengthCodec.decode([2, 4, 0x1F], expectedPageCount: 4)
        }
        #expect(throws: DecodeError.nonzeroPaddingBits(lastByte: 0x80, usedBits: 1)) {
            try RunLengthCodec.decode([2, 65] + Array(repeating: 0, count: 8) + [0x80], expectedPageCount: 65)
        }
        #expect(throws: DecodeError.trailingBytes(count: 1)) {
            try RunLengthCodec.decode([1, 10, 0, 10, 0], expectedPageCount: 10)
        }
        #expect(throws: DecodeError.trailingBytes(count: 2)) {
            try RunLengthCodec.decode([2, 8, 0xFF, 0, 0], expectedPageCount: 8)
        }
        #expect(throws: DecodeError.trailingBytes(count: 1)) {
            try RunLengthCodec.decode([1, 0, 0, 1], expectedPageCount: 0)
        }
    }

    @Test("errors describe themselves with their numbers")
    func errorDescriptions() {
        #expect(DecodeError.pageCountMismatch(declared: 5, expected: 6).description
                == "page bitmap encoding declares 5 pages, expected 6")
        #expect(DecodeError.truncated(length: 4, minimumLength: 5).description.contains("4 bytes"))
    }

    @Test("a valid encoding decoded with another page count throws pageCountMismatch")
    func wrongExpectedPageCount() {
        var original = PageBitmap(pageCount: 1000)
        original.insert(contentsOf: 100..<200)
        let encodings = [RunLengthCodec.encode(original), RunLengthCodec.encode(PageBitmap(pageCount: 0))]
        for (encoded, declared) in zip(encodings, [1000, 0]) {
            for expected in [0, 999, 1001, 64_000] where expected != declared {
                #expect(throws: DecodeError.pageCountMismatch(declared: UInt64(declared), expected: expected)) {
                    try RunLengthCodec.decode(encoded, expectedPageCount: expected)
                }
            }
        }
    }

    @Test("every proper prefix of a valid encoding throws, never crashes")
    func truncatedPrefixes() throws {
        var generator = SplitMix64(seed: 77)
        var longRuns = PageBitmap(pageCount: 5000)
        longRuns.insert(contentsOf: 100..<1000)
        longRuns.insert(contentsOf: 4000..<5000)
        let random = bitmap(randomPages(pageCount: 1000, density: 0.5, using: &generator), pageCount: 1000)
        for original in [longRuns, random, PageBitmap(pageCount: 0), PageBitmap(repeating: true, pageCount: 65)] {
            let encoded = RunLengthCodec.encode(original)
            #expect(try RunLengthCodec.decode(encoded, expectedPageCount: original.pageCount) == original)
            for length in 0..<encoded.count {
                let error = #expect(throws: DecodeError.self) {
                    try RunLengthCodec.decode(encoded.prefix(length), expectedPageCount: original.pageCount)
                }
                if length == 0 {
                    #expect(error == .emptyInput)
                } else if case .truncated(let reportedLength, let minimumLength) = error {
                    #expect(reportedLength == length && minimumLength > length)
                } else {
                    Issue.record("prefix of \(length) bytes threw \(String(describing: error))")
                }
            }
        }
    }

    @Test("random bodies after a valid header never crash, and what decodes re-encodes")
    func randomBodies() {
        var generator = SplitMix64(seed: 1234)
        for _ in 0..<20_000 {
            let pageCount = Int.random(in: 0...40, using: &generator)
            let tag = UInt8.random(in: 1...2, using: &generator)
            let body = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let input = [tag, UInt8(pageCount)] + body
            do {
                let decoded = try RunLengthCodec.decode(input, expectedPageCount: pageCount)
                #expect(decoded.pageCount == pageCount)
                let reencoded = RunLengthCodec.encode(decoded)
                #expect(try RunLengthCodec.decode(reencoded, expectedPageCount: pageCount) == decoded,
                        "input \(input)")
            } catch {
                // Every failure is a DecodeError by its type; decoding did not crash.
            }
        }
    }
}
