import SystemPackage

extension PagemapScanner {
    /// Why a pagemap could not be opened or scanned.
    public enum ScanError: Error, Equatable, Sendable, CustomStringConvertible {
        /// open(2) of the pagemap failed: ENOENT when the process does not exist,
        /// EACCES without access to it.
        case openFailed(path: FilePath, errno: Errno)
        /// A bound of the range is not a multiple of the page size.
        case unalignedRange(Range<UInt>, pageSize: Int)
        /// pread(2) of pagemap entries for `addresses` failed.
        case readFailed(path: FilePath, addresses: Range<UInt>, errno: Errno)
        /// The PAGEMAP_SCAN ioctl for `addresses` failed; ENOTTY means the kernel
        /// is older than 6.7.
        case scanIoctlFailed(path: FilePath, addresses: Range<UInt>, errno: Errno)
        /// The pagemap ended at `address`, which lies beyond the process's
        /// address space.
        case endOfFile(path: FilePath, address: UInt)

        public var description: String {
            switch self {
            case .openFailed(let path, let errno):
                "cannot open \(path): \(errno)"
            case .unalignedRange(let addresses, let pageSize):
                "address range \(hex(addresses)) is not aligned to the page size \(pageSize)"
            case .readFailed(let path, let addresses, let errno):
                "reading \(path) for \(hex(addresses)) failed: \(errno)"
            case .scanIoctlFailed(let path, let addresses, let errno):
                "PAGEMAP_SCAN on \(path) for \(hex(addresses)) failed: \(errno)"
            case .endOfFile(let path, let address):
                "\(path) ends at address 0x\(String(address, radix: 16)), past the address space"
            }
        }
    }
}

private func hex(_ addresses: Range<UInt>) -> String {
    "0x\(String(addresses.lowerBound, radix: 16))..<0x\(String(addresses.upperBound, radix: 16))"
}
