import Bitmaps
import Testing
import Watchdog

@Suite("ZeroPageScanner", .watchdog)
struct ZeroPageScannerTests {
    @Test("pages with one nonzero byte anywhere are reported nonzero, all others zero")
    func singleNonzeroBytes() throws {
        let pageCount = 64
        let pageSize = ZeroPageScanner.pageSize
        #expect(pageSize == AnonymousMapping.pageSize)
        let mapping = try AnonymousMapping(pageCount: pageCount)
        // Offsets in the first chunk, across chunk and block edges, and the last byte.
        let offsets = [0, 1, 63, 64, 65, 127, 191, 192, 255, 256, 257, 2047, 2048, pageSize - 65,
                       pageSize - 64, pageSize - 2, pageSize - 1]
        var nonzero = PageBitmap(pageCount: pageCount)
        for (index, offset) in offsets.enumerated() {
            // Every third page, so zero pages sit between nonzero ones.
            let page = 3 * index + 1
            mapping.page(page).storeBytes(of: UInt8(1) << (index % 8), toByteOffset: offset, as: UInt8.self)
            nonzero.insert(page)
        }
        // A page written with zeros is populated but still zero.
        mapping.page(0).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)

        let zeroPages = ZeroPageScanner.scan(startingAt: mapping.base, pageCount: pageCount)
        #expect(zeroPages == nonzero.complement())
        for page in 0..<pageCount {
            #expect(ZeroPageScanner.isZero(page: mapping.page(page)) == !nonzero[page], "page \(page)")
        }
        #expect(ZeroPageScanner.scan(startingAt: mapping.base, pageCount: 0) == PageBitmap(pageCount: 0))
        withExtendedLifetime(mapping) {}
    }

    @Test("a single nonzero byte at every offset of a page is found")
    func everyOffset() throws {
        let mapping = try AnonymousMapping(pageCount: 1)
        let page = mapping.page(0)
        #expect(ZeroPageScanner.isZero(page: page))
        var missed: [Int] = []
        for offset in 0..<ZeroPageScanner.pageSize {
            page.storeBytes(of: 0x80, toByteOffset: offset, as: UInt8.self)
            if ZeroPageScanner.isZero(page: page) { missed.append(offset) }
            page.storeBytes(of: 0, toByteOffset: offset, as: UInt8.self)
        }
        #expect(missed.isEmpty)
        #expect(ZeroPageScanner.isZero(page: page))
        withExtendedLifetime(mapping) {}
    }
}
