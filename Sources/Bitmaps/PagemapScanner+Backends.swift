import CPagemap

extension PagemapScanner {
    /// Page regions the ioctl may report per call (24 KiB of output); a range
    /// with more regions than this takes several calls.
    static let regionsPerScanCall = 1024

    /// Entries read per pread (64 KiB).
    static let entriesPerRead = 8192

    /// Scans with the PAGEMAP_SCAN ioctl: the kernel lists maximal regions of
    /// present or swapped pages, and each region sets its pages a word at a time.
    func scanWithIoctl(_ addresses: Range<UInt>) throws(ScanError) -> PageResidency {
        var present = PageBitmap(pageCount: pageCount(of: addresses))
        var swapped = present
        let reported = UInt64(PAGE_IS_PRESENT | PAGE_IS_SWAPPED)
        var arguments = pm_scan_arg()
        arguments.size = UInt64(MemoryLayout<pm_scan_arg>.size)
        arguments.start = UInt64(addresses.lowerBound)
        arguments.end = UInt64(addresses.upperBound)
        arguments.category_anyof_mask = reported
        arguments.return_mask = reported
        var regions = [page_region](repeating: page_region(), count: Self.regionsPerScanCall)

        while arguments.start < arguments.end {
            let filled: Int
            do {
                filled = try file.scan(&arguments, regions: &regions)
            } catch {
                throw .scanIoctlFailed(path: path, addresses: addresses, errno: error)
            }
            for region in regions[..<filled] {
                precondition(region.start < region.end, "PAGEMAP_SCAN reported an empty region at \(region.start)")
                // Only what lies inside this call's walk counts: Linux 6.18 can
                // end a walk early and still list a region at or past walk_end
                // (seen scanning an 8 GiB THP-backed region: 627 regions, the
                // last starting exactly at walk_end). The next call starts at
                // walk_end and reports that part again.
                let start = max(region.start, arguments.start), end = min(region.end, arguments.walk_end)
                guard start < end else { continue }
                let pages = page(at: start, in: addresses)..<page(at: end, in: addresses)
                if region.categories & UInt64(PAGE_IS_PRESENT) != 0 { present.insert(contentsOf: pages) }
                if region.categories & UInt64(PAGE_IS_SWAPPED) != 0 { swapped.insert(contentsOf: pages) }
            }
            // The walk stops early only when the vector fills, after at least one
            // region, so each call makes progress.
            precondition(
                arguments.walk_end > arguments.start && arguments.walk_end <= arguments.end,
                "PAGEMAP_SCAN walk ended at \(arguments.walk_end), outside \(arguments.start)..<\(arguments.end)")
            arguments.start = arguments.walk_end
        }
        return PageResidency(addresses: addresses, present: present, swapped: swapped)
    }

    /// Scans classic pagemap entries: bit 63 of a page's entry means present,
    /// bit 62 swapped.
    func scanEntries(_ addresses: Range<UInt>) throws(ScanError) -> PageResidency {
        let pageCount = pageCount(of: addresses)
        var present = PageBitmap(pageCount: pageCount)
        var swapped = present
        let firstPage = Int(addresses.lowerBound / UInt(pageSize))
        var entries = [UInt64](repeating: 0, count: min(Self.entriesPerRead, pageCount))
        var page = 0
        while page < pageCount {
            let wanted = min(entries.count, pageCount - page)
            let read: Int
            do {
                read = try file.readEntries(into: &entries, count: wanted, firstPage: firstPage + page)
            } catch {
                throw .readFailed(path: path, addresses: addresses, errno: error)
            }
            guard read > 0 else {
                throw .endOfFile(path: path, address: addresses.lowerBound + UInt(page) * UInt(pageSize))
            }
            for (index, entry) in entries[..<read].enumerated() {
                if entry & CPAGEMAP_ENTRY_PRESENT != 0 {
                    present.insert(page + index)
                } else if entry & CPAGEMAP_ENTRY_SWAPPED != 0 {
                    swapped.insert(page + index)
                }
            }
            page += read
        }
        return PageResidency(addresses: addresses, present: present, swapped: swapped)
    }

    private func pageCount(of addresses: Range<UInt>) -> Int {
        Int((addresses.upperBound - addresses.lowerBound) / UInt(pageSize))
    }

    /// The index within `addresses` of the page starting at `address`.
    private func page(at address: UInt64, in addresses: Range<UInt>) -> Int {
        assert(address % UInt64(pageSize) == 0, "PAGEMAP_SCAN reported an unaligned address")
        return Int((UInt(address) - addresses.lowerBound) / UInt(pageSize))
    }
}
