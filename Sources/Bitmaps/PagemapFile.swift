import CPagemap
import Glibc
import SystemPackage

/// An open `/proc/PID/pagemap`: owns the descriptor and makes the module's only
/// system calls on it, handing the kernel pointers to buffers it borrows for the
/// length of one call.
struct PagemapFile: ~Copyable, Sendable {
    /// The size of one classic pagemap entry.
    static let entrySize = MemoryLayout<UInt64>.size

    private let descriptor: Int32

    /// Opens `path` read-only; the process is pinned from here on, so a pid that
    /// is reused later still refers to the process that was opened.
    init(path: FilePath) throws(Errno) {
        descriptor = try path.withPlatformString { path in
            retryingOnInterrupt { open(path, O_RDONLY | O_CLOEXEC) }
        }.get()
    }

    deinit {
        // Not retried: on Linux the descriptor is released even when close fails,
        // and a read-only proc file has no data to lose.
        _ = close(descriptor)
    }

    /// Reads up to `count` entries starting at the entry of page `firstPage`
    /// (the page containing address `firstPage * pageSize`) into `entries`,
    /// returning how many were read; 0 means the end of the address space.
    func readEntries(into entries: inout [UInt64], count: Int, firstPage: Int) throws(Errno) -> Int {
        precondition(count >= 0 && count <= entries.count)
        let byteCount = try entries.withUnsafeMutableBytes { buffer in
            retryingOnInterrupt {
                pread(descriptor, buffer.baseAddress, count * Self.entrySize, off_t(firstPage * Self.entrySize))
            }
        }.get()
        // The kernel reads whole entries only (it rejects unaligned reads).
        assert(byteCount % Self.entrySize == 0, "pagemap read \(byteCount) bytes, not whole entries")
        return byteCount / Self.entrySize
    }

    /// Runs the PAGEMAP_SCAN ioctl with `arguments`, pointing its output vector at
    /// `regions`, and returns the number of regions the kernel filled in. The
    /// kernel sets `arguments.walk_end` to where the walk stopped.
    func scan(_ arguments: inout pm_scan_arg, regions: inout [page_region]) throws(Errno) -> Int {
        let filled = try regions.withUnsafeMutableBufferPointer { regions in
            // The vector pointer is only valid inside this closure, so it is set
            // here and cleared before the arguments escape.
            arguments.vec = UInt64(UInt(bitPattern: regions.baseAddress))
            arguments.vec_len = UInt64(regions.count)
            defer { arguments.vec = 0 }
            return withUnsafeMutablePointer(to: &arguments) { arguments in
                retryingOnInterrupt { cpagemap_ioctl(descriptor, CPAGEMAP_IOC_SCAN, arguments) }
            }
        }.get()
        assert(filled >= 0 && filled <= regions.count, "PAGEMAP_SCAN filled \(filled) regions")
        return Int(filled)
    }
}
