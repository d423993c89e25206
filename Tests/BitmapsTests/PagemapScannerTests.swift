import Bitmaps
import Glibc
import SystemPackage
import Testing
import Watchdog

/// A 256-page region with every third page and the run 100..<140 written: the
/// written pages are exactly the present ones.
func mappingWithWrittenPages() throws -> (mapping: AnonymousMapping, written: PageBitmap) {
    let pageCount = 256
    let mapping = try AnonymousMapping(pageCount: pageCount)
    var written = PageBitmap(pageCount: pageCount)
    for page in stride(from: 0, to: pageCount, by: 3) { written.insert(page) }
    written.insert(contentsOf: 100..<140)
    written.insert(pageCount - 1)
    for run in written.runs(of: true) {
        for page in run { mapping.page(page).storeBytes(of: 0xA5, as: UInt8.self) }
    }
    return (mapping, written)
}

@Suite("PagemapScanner", .watchdog)
struct PagemapScannerTests {
    @Test("each backend reports exactly the written pages as present",
          arguments: [PagemapScanner.Backend.pagemapScanIoctl, .pagemapEntries, .automatic])
    func writtenPagesArePresent(backend: PagemapScanner.Backend) throws {
        let (mapping, written) = try mappingWithWrittenPages()
        let scanner = try PagemapScanner(backend: backend)
        // On this kernel (6.7 or later) the ioctl must work: an error fails the test.
        let residency = try scanner.scan(mapping.addresses)
        #expect(residency.addresses == mapping.addresses)
        #expect(residency.pageCount == 256)
        #expect(residency.present == written)
        #expect(residency.swapped.isEmpty)
        #expect(residency.populated == written)
        #expect(residency.neverPopulated == written.complement())
        withExtendedLifetime(mapping) {}
    }

    @Test("all backends agree, including on a sub-range and repeated scans")
    func backendsAgree() throws {
        let (mapping, written) = try mappingWithWrittenPages()
        let ioctl = try PagemapScanner(backend: .pagemapScanIoctl)
        let entries = try PagemapScanner(backend: .pagemapEntries)
        let automatic = try PagemapScanner()
        let pageSize = UInt(ioctl.pageSize)
        let base = mapping.addresses.lowerBound
        let subRange = base + 50 * pageSize..<base + 150 * pageSize
        var expectedSub = PageBitmap(pageCount: 100)
        for run in written.runs(of: true, in: 50..<150) {
            expectedSub.insert(contentsOf: run.lowerBound - 50..<run.upperBound - 50)
        }
        for addresses in [mapping.addresses, subRange] {
            let reference = try ioctl.scan(addresses)
            #expect(try entries.scan(addresses) == reference)
            #expect(try automatic.scan(addresses) == reference)
            #expect(try automatic.scan(addresses) == reference, "after the automatic choice is cached")
        }
        #expect(try ioctl.scan(subRange).present == expectedSub)
        withExtendedLifetime(mapping) {}
    }

    @Test("the ioctl backend pages through results when the regions outnumber one call's vector")
    func manyRegions() throws {
        // Every other page written: 1500 one-page regions, more than one call holds.
        let pageCount = 3000
        let mapping = try AnonymousMapping(pageCount: pageCount)
        var written = PageBitmap(pageCount: pageCount)
        for page in stride(from: 0, to: pageCount, by: 2) {
            written.insert(page)
            mapping.page(page).storeBytes(of: 1, as: UInt8.self)
        }
        for backend in [PagemapScanner.Backend.pagemapScanIoctl, .pagemapEntries] {
            let residency = try PagemapScanner(backend: backend).scan(mapping.addresses)
            #expect(residency.present == written, "\(backend)")
        }
        withExtendedLifetime(mapping) {}
    }

    @Test("a process's pagemap can be scanned by pid")
    func scanByPid() throws {
        let (mapping, written) = try mappingWithWrittenPages()
        for backend in [PagemapScanner.Backend.pagemapScanIoctl, .pagemapEntries] {
            let scanner = try PagemapScanner(pid: getpid(), backend: backend)
            #expect(scanner.path == FilePath("/proc/\(getpid())/pagemap"))
            #expect(try scanner.scan(mapping.addresses).present == written)
        }
        withExtendedLifetime(mapping) {}
    }

    @Test("the buffer-pointer overload scans the same range")
    func scanRegion() throws {
        let (mapping, written) = try mappingWithWrittenPages()
        let region = UnsafeRawBufferPointer(start: mapping.base, count: mapping.byteCount)
        #expect(try PagemapScanner().scan(region).present == written)
        withExtendedLifetime(mapping) {}
    }

    @Test("an empty range gives empty bitmaps")
    func emptyRange() throws {
        let residency = try PagemapScanner().scan(4096..<4096)
        #expect(residency.pageCount == 0)
    }

    @Test("an unaligned range throws unalignedRange", arguments: [
        PagemapScanner.Backend.pagemapScanIoctl, .pagemapEntries, .automatic,
    ])
    func unalignedRange(backend: PagemapScanner.Backend) throws {
        let scanner = try PagemapScanner(backend: backend)
        let pageSize = UInt(scanner.pageSize)
        for addresses in [pageSize + 1..<4 * pageSize, pageSize..<4 * pageSize - 1] {
            #expect(throws: PagemapScanner.ScanError.unalignedRange(addresses, pageSize: scanner.pageSize)) {
                try scanner.scan(addresses)
            }
        }
    }

    @Test("opening the pagemap of a process that does not exist throws openFailed with ENOENT")
    func missingProcess() {
        #expect(throws: PagemapScanner.ScanError.openFailed(
            path: "/proc/2147483647/pagemap", errno: .noSuchFileOrDirectory)
        ) {
            try PagemapScanner(pid: .max)
        }
    }

    @Test("scanning past the end of the address space throws a typed error", arguments: [
        PagemapScanner.Backend.pagemapScanIoctl, .pagemapEntries,
    ])
    func beyondAddressSpace(backend: PagemapScanner.Backend) throws {
        let scanner = try PagemapScanner(backend: backend)
        let pageSize = UInt(scanner.pageSize)
        // The top of the 64-bit space is kernel memory, outside any user address space.
        let addresses = UInt.max - 16 * pageSize + 1..<UInt.max - pageSize + 1
        let error = #expect(throws: PagemapScanner.ScanError.self) { try scanner.scan(addresses) }
        switch error {
        case .scanIoctlFailed(let path, let reported, _), .readFailed(let path, let reported, _):
            #expect(path == "/proc/self/pagemap" && reported == addresses)
        case .endOfFile(let path, let address):
            #expect(path == "/proc/self/pagemap" && addresses.contains(address))
        default:
            Issue.record("unexpected \(String(describing: error))")
        }
    }
}
