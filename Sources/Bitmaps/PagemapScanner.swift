import Glibc
import Synchronization
import SystemPackage

/// Reports which pages of an address range of a process are present, swapped,
/// or never populated, from `/proc/PID/pagemap`.
///
/// A scanner opens the pagemap file once and can scan any number of ranges,
/// from any number of threads. Two kernel interfaces are supported:
///
/// - the `PAGEMAP_SCAN` ioctl (Linux 6.7), which reports whole regions of pages
///   at once and skips unmapped holes, so its cost follows the number of regions;
/// - classic 8-byte pagemap entries read with `pread`, one per page, which work
///   on every kernel.
///
/// Reading another process's pagemap needs `PTRACE_MODE_READ` access to it.
public final class PagemapScanner: Sendable {
    /// Which kernel interface a scanner uses.
    public enum Backend: Sendable, Hashable {
        /// The ioctl when the kernel has it, else pagemap entries; decided by the
        /// first scan and kept for the scanner's lifetime.
        case automatic
        /// The `PAGEMAP_SCAN` ioctl only; scans throw on kernels older than 6.7.
        case pagemapScanIoctl
        /// Classic pagemap entries only.
        case pagemapEntries
    }

    /// The pagemap file the scanner reads.
    public let path: FilePath
    /// The backend requested at creation.
    public let backend: Backend
    /// The page size of the scanned process, which is the system's.
    public let pageSize: Int

    let file: PagemapFile

    /// What `.automatic` has settled on. Racing first scans may both probe the
    /// ioctl; they reach the same answer, so a relaxed store suffices.
    private let automaticChoice = Atomic<AutomaticChoice>(.undecided)

    private enum AutomaticChoice: UInt8, AtomicRepresentable {
        case undecided, pagemapScanIoctl, pagemapEntries
    }

    /// Opens the pagemap at `path`.
    ///
    /// - Throws: `ScanError.openFailed` with the path and errno.
    /// - Complexity: O(1); one open(2).
    public init(path: FilePath, backend: Backend = .automatic) throws(ScanError) {
        self.path = path
        self.backend = backend
        self.pageSize = systemPageSize
        do {
            file = try PagemapFile(path: path)
        } catch {
            throw .openFailed(path: path, errno: error)
        }
    }

    /// Opens `/proc/<pid>/pagemap`.
    ///
    /// - Throws: `ScanError.openFailed`, e.g. with ENOENT when no such process
    ///   exists or EACCES without access to it.
    /// - Complexity: O(1); one open(2).
    public convenience init(pid: pid_t, backend: Backend = .automatic) throws(ScanError) {
        try self.init(path: FilePath("/proc/\(pid)/pagemap"), backend: backend)
    }

    /// Opens this process's own pagemap, `/proc/self/pagemap`.
    ///
    /// - Throws: `ScanError.openFailed`.
    /// - Complexity: O(1); one open(2).
    public convenience init(backend: Backend = .automatic) throws(ScanError) {
        try self.init(path: "/proc/self/pagemap", backend: backend)
    }

    /// The residency of every page in `addresses`.
    ///
    /// The result is a snapshot: pages may be faulted in or reclaimed while, or
    /// right after, the kernel reports them.
    ///
    /// - Throws: `ScanError.unalignedRange` unless both bounds are multiples of
    ///   `pageSize`; otherwise the failing call's errno with the path and range.
    /// - Complexity: O(pages / 64 + regions) system-call work with the ioctl,
    ///   where regions are runs of populated pages; O(pages) with entries, read
    ///   8192 at a time.
    public func scan(_ addresses: Range<UInt>) throws(ScanError) -> PageResidency {
        let pageSize = UInt(pageSize)
        guard addresses.lowerBound % pageSize == 0, addresses.upperBound % pageSize == 0 else {
            throw .unalignedRange(addresses, pageSize: self.pageSize)
        }
        switch backend {
        case .pagemapScanIoctl:
            return try scanWithIoctl(addresses)
        case .pagemapEntries:
            return try scanEntries(addresses)
        case .automatic:
            return try scanAutomatically(addresses)
        }
    }

    /// The residency of every page in `region` of this process; a convenience
    /// for a scanner of `/proc/self/pagemap`.
    ///
    /// - Throws: as `scan(_:)` for the addresses of `region`.
    /// - Complexity: as `scan(_:)`.
    public func scan(_ region: UnsafeRawBufferPointer) throws(ScanError) -> PageResidency {
        let start = UInt(bitPattern: region.baseAddress)
        return try scan(start..<start + UInt(region.count))
    }

    private func scanAutomatically(_ addresses: Range<UInt>) throws(ScanError) -> PageResidency {
        switch automaticChoice.load(ordering: .relaxed) {
        case .pagemapScanIoctl:
            return try scanWithIoctl(addresses)
        case .pagemapEntries:
            return try scanEntries(addresses)
        case .undecided:
            // An empty range makes no ioctl call and so proves nothing.
            guard !addresses.isEmpty else { return try scanWithIoctl(addresses) }
            do throws(ScanError) {
                let residency = try scanWithIoctl(addresses)
                automaticChoice.store(.pagemapScanIoctl, ordering: .relaxed)
                return residency
            } catch {
                guard case .scanIoctlFailed(_, _, let errno) = error,
                      Self.meansScanIoctlIsUnsupported(errno)
                else { throw error }
                automaticChoice.store(.pagemapEntries, ordering: .relaxed)
                return try scanEntries(addresses)
            }
        }
    }

    /// Whether the ioctl failing with `errno` means this kernel lacks it: ENOTTY
    /// (no such ioctl, before 6.7), EINVAL (an argument layout it does not know),
    /// or EOPNOTSUPP. Our arguments are valid, so these cannot mean a bad call.
    private static func meansScanIoctlIsUnsupported(_ errno: Errno) -> Bool {
        errno == .inappropriateIOCTLForDevice || errno == .invalidArgument
            || errno == Errno(rawValue: EOPNOTSUPP)
    }
}
