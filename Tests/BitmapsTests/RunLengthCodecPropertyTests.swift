import Bitmaps
import PropertyBased
import Testing
import Watchdog

/// Properties of the run-length codec over generated bitmaps and bytes,
/// shrunk to a small counterexample when one fails.
@Suite("RunLengthCodec properties", .watchdog)
struct RunLengthCodecPropertyTests {
    /// A bitmap made of alternating runs, the shape free memory has.
    static func bitmap(firstSet: Bool, runs: [Int]) -> PageBitmap {
        var bitmap = PageBitmap(pageCount: runs.reduce(0, +))
        var page = 0, value = firstSet
        for run in runs {
            if value { bitmap.insert(contentsOf: page..<(page + run)) }
            page += run
            value.toggle()
        }
        return bitmap
    }

    @Test("any bitmap of runs decodes to itself, never larger than raw + 10 bytes")
    func roundTripOfRuns() async {
        await propertyCheck(count: 300, input: Gen.bool, Gen.int(in: 1...3000).array(of: 0...80)) { firstSet, runs in
            let bitmap = Self.bitmap(firstSet: firstSet, runs: runs)
            let encoded = RunLengthCodec.encode(bitmap)
            #expect(encoded.count <= (bitmap.pageCount + 7) / 8 + 10)
            #expect((try? RunLengthCodec.decode(encoded, expectedPageCount: bitmap.pageCount)) == bitmap)
        }
    }

    @Test("any dense bitmap (random bits) decodes to itself")
    func roundTripOfNoise() async {
        await propertyCheck(count: 300, input: Gen.bool.array(of: 0...2000)) { bits in
            var bitmap = PageBitmap(pageCount: bits.count)
            for (page, bit) in bits.enumerated() where bit { bitmap.insert(page) }
            #expect((try? RunLengthCodec.decode(RunLengthCodec.encode(bitmap), expectedPageCount: bits.count)) == bitmap)
        }
    }

    @Test("arbitrary bytes either decode to a bitmap of exactly the expected size or throw a DecodeError")
    func arbitraryBytes() async {
        await propertyCheck(count: 1000, input: Gen.uint8().array(of: 0...48), Gen.int(in: 0...4096)) { bytes, pageCount in
            // decode throws only DecodeError (typed throws); it must never
            // crash, and never return a bitmap of another size.
            if let bitmap = try? RunLengthCodec.decode(bytes, expectedPageCount: pageCount) {
                #expect(bitmap.pageCount == pageCount)
            }
        }
    }
}
