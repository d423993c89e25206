import CUserfaultfd

/// One message read from a userfaultfd (`struct uffd_msg`).
public enum UFFDEvent: Sendable {
    /// A thread touched a page it may not use yet; it sleeps until the page is
    /// resolved (or woken).
    case pageFault(PageFault)
    /// The process forked; the child's registered ranges report to `child`,
    /// a new userfaultfd this process now owns (`UFFD_EVENT_FORK`).
    case fork(child: Userfaultfd)
    /// A registered range moved (`mremap`); faults now arrive at `to`.
    case remap(from: UInt, to: UInt, length: Int)
    /// The pages of `range` were dropped (`madvise(MADV_DONTNEED/REMOVE)`);
    /// they are missing again.
    case remove(MemoryRange)
    /// `range` was unmapped (`munmap`) and is no longer registered.
    case unmap(MemoryRange)
}

/// A page fault reported by the kernel.
public struct PageFault: Sendable, Hashable {
    /// The page's address (the exact byte with `exactAddress`).
    public var address: UInt
    /// What kind of access faulted.
    public var flags: Flags
    /// The faulting thread, with the `threadID` feature; else 0.
    public var threadID: Int32

    public init(address: UInt, flags: Flags, threadID: Int32) {
        self.address = address
        self.flags = flags
        self.threadID = threadID
    }

    /// `UFFD_PAGEFAULT_FLAG_*`.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt64
        public init(rawValue: UInt64) { self.rawValue = rawValue }
        /// The access was a write.
        public static let write = Self(rawValue: UInt64(UFFD_PAGEFAULT_FLAG_WRITE))
        /// A write hit a write-protected page.
        public static let writeProtect = Self(rawValue: UInt64(UFFD_PAGEFAULT_FLAG_WP))
        /// A MINOR fault: the page is in the page cache but not mapped.
        public static let minor = Self(rawValue: UInt64(UFFD_PAGEFAULT_FLAG_MINOR))
    }
}
