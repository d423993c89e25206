import CUserfaultfd

/// Optional behaviours of a userfaultfd, negotiated with `UFFDIO_API`
/// (`uffdio_api.features`).
public struct UFFDFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Page-fault messages carry `UFFD_PAGEFAULT_FLAG_WP` (write-protect faults).
    public static let pageFaultFlagWP = Self(rawValue: UInt64(UFFD_FEATURE_PAGEFAULT_FLAG_WP))
    /// `fork()` of the process delivers a new userfaultfd for the child. Needs CAP_SYS_PTRACE.
    public static let eventFork = Self(rawValue: UInt64(UFFD_FEATURE_EVENT_FORK))
    /// `mremap()` of a registered range is reported.
    public static let eventRemap = Self(rawValue: UInt64(UFFD_FEATURE_EVENT_REMAP))
    /// `madvise(MADV_DONTNEED/MADV_REMOVE)` of a registered range is reported.
    public static let eventRemove = Self(rawValue: UInt64(UFFD_FEATURE_EVENT_REMOVE))
    /// MISSING registration of hugetlbfs mappings.
    public static let missingHugetlbfs = Self(rawValue: UInt64(UFFD_FEATURE_MISSING_HUGETLBFS))
    /// MISSING registration of shmem mappings.
    public static let missingShmem = Self(rawValue: UInt64(UFFD_FEATURE_MISSING_SHMEM))
    /// `munmap()` of a registered range is reported.
    public static let eventUnmap = Self(rawValue: UInt64(UFFD_FEATURE_EVENT_UNMAP))
    /// Faults raise SIGBUS instead of being queued as messages.
    public static let sigbus = Self(rawValue: UInt64(UFFD_FEATURE_SIGBUS))
    /// Page-fault messages carry the faulting thread's id.
    public static let threadID = Self(rawValue: UInt64(UFFD_FEATURE_THREAD_ID))
    /// MINOR registration of hugetlbfs mappings.
    public static let minorHugetlbfs = Self(rawValue: UInt64(UFFD_FEATURE_MINOR_HUGETLBFS))
    /// MINOR registration of shmem mappings.
    public static let minorShmem = Self(rawValue: UInt64(UFFD_FEATURE_MINOR_SHMEM))
    /// Page-fault messages carry the exact faulting address, not the page start.
    public static let exactAddress = Self(rawValue: UInt64(UFFD_FEATURE_EXACT_ADDRESS))
    /// Write-protect registration of hugetlbfs and shmem mappings.
    public static let wpHugetlbfsShmem = Self(rawValue: UInt64(UFFD_FEATURE_WP_HUGETLBFS_SHMEM))
    /// Write-protect also applies to pages not yet populated (Linux 6.4).
    public static let wpUnpopulated = Self(rawValue: UInt64(UFFD_FEATURE_WP_UNPOPULATED))
    /// `UFFDIO_POISON` (Linux 6.6).
    public static let poison = Self(rawValue: UInt64(UFFD_FEATURE_POISON))
    /// Write-protect faults are resolved by the kernel itself (Linux 6.7).
    public static let wpAsync = Self(rawValue: UInt64(UFFD_FEATURE_WP_ASYNC))
    /// `UFFDIO_MOVE` (Linux 6.8).
    public static let move = Self(rawValue: UInt64(UFFD_FEATURE_MOVE))

    /// Every feature this library knows by name, in bit order.
    public static let named: [(Self, String)] = [
        (.pageFaultFlagWP, "PAGEFAULT_FLAG_WP"), (.eventFork, "EVENT_FORK"),
        (.eventRemap, "EVENT_REMAP"), (.eventRemove, "EVENT_REMOVE"),
        (.missingHugetlbfs, "MISSING_HUGETLBFS"), (.missingShmem, "MISSING_SHMEM"),
        (.eventUnmap, "EVENT_UNMAP"), (.sigbus, "SIGBUS"), (.threadID, "THREAD_ID"),
        (.minorHugetlbfs, "MINOR_HUGETLBFS"), (.minorShmem, "MINOR_SHMEM"),
        (.exactAddress, "EXACT_ADDRESS"), (.wpHugetlbfsShmem, "WP_HUGETLBFS_SHMEM"),
        (.wpUnpopulated, "WP_UNPOPULATED"), (.poison, "POISON"), (.wpAsync, "WP_ASYNC"),
        (.move, "MOVE"),
    ]

    public var description: String { optionSetDescription(rawValue, Self.named.map { ($0.0.rawValue, $0.1) }) }
}

/// The ioctls a userfaultfd or a registered range supports
/// (`uffdio_api.ioctls`, `uffdio_register.ioctls`): bit N is ioctl number N.
public struct UFFDIoctls: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    private init(bit: Int32) { rawValue = 1 << UInt64(bit) }

    public static let register = Self(bit: CUFFD_BIT_REGISTER)
    public static let unregister = Self(bit: CUFFD_BIT_UNREGISTER)
    public static let api = Self(bit: CUFFD_BIT_API)
    public static let wake = Self(bit: CUFFD_BIT_WAKE)
    public static let copy = Self(bit: CUFFD_BIT_COPY)
    public static let zeroPage = Self(bit: CUFFD_BIT_ZEROPAGE)
    public static let move = Self(bit: CUFFD_BIT_MOVE)
    public static let writeProtect = Self(bit: CUFFD_BIT_WRITEPROTECT)
    public static let `continue` = Self(bit: CUFFD_BIT_CONTINUE)
    public static let poison = Self(bit: CUFFD_BIT_POISON)

    public static let named: [(Self, String)] = [
        (.register, "REGISTER"), (.unregister, "UNREGISTER"), (.wake, "WAKE"), (.copy, "COPY"),
        (.zeroPage, "ZEROPAGE"), (.move, "MOVE"), (.writeProtect, "WRITEPROTECT"),
        (.continue, "CONTINUE"), (.poison, "POISON"), (.api, "API"),
    ]

    public var description: String { optionSetDescription(rawValue, Self.named.map { ($0.0.rawValue, $0.1) }) }
}

/// "[A, B, 0x..]": named bits first, then whatever is left as hex.
func optionSetDescription(_ raw: UInt64, _ names: [(UInt64, String)]) -> String {
    var left = raw
    var parts: [String] = []
    for (bits, name) in names where raw & bits == bits && bits != 0 {
        parts.append(name)
        left &= ~bits
    }
    if left != 0 { parts.append("0x" + String(left, radix: 16)) }
    return "[" + parts.joined(separator: ", ") + "]"
}
