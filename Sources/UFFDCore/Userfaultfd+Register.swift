import CUserfaultfd

/// What a registered range reports to its userfaultfd (`UFFDIO_REGISTER_MODE_*`).
public struct RegisterMode: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Faults on pages that are not present.
    public static let missing = Self(rawValue: UInt64(UFFDIO_REGISTER_MODE_MISSING))
    /// Writes to pages write-protected with `writeProtect`.
    public static let writeProtect = Self(rawValue: UInt64(UFFDIO_REGISTER_MODE_WP))
    /// Faults on pages present in the page cache but not mapped (shmem, hugetlbfs).
    public static let minor = Self(rawValue: UInt64(UFFDIO_REGISTER_MODE_MINOR))
}

extension Userfaultfd {
    /// Registers `range` so that faults of the kinds in `mode` are reported to
    /// this descriptor (`ioctl(UFFDIO_REGISTER)`).
    ///
    /// - Returns: The ioctls the kernel supports on this range (for example,
    ///   `ZEROPAGE` is absent on shmem registered MINOR).
    /// - Throws: `.misaligned` before the syscall when the range is not whole
    ///   pages; the kernel's errno otherwise (EINVAL for a range not entirely
    ///   mapped or a mode the mapping cannot have, EBUSY when another
    ///   userfaultfd holds it).
    @discardableResult
    public func register(_ range: MemoryRange, mode: RegisterMode) throws(UFFDError) -> UFFDIoctls {
        try requirePages(range, .register)
        var arg = uffdio_register(range: uffdio_range(start: UInt64(range.start), len: UInt64(range.length)),
                                  mode: mode.rawValue, ioctls: 0)
        _ = try Syscall.onUserfaultfd(.register, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_REGISTER, &arg) }.get()
        return UFFDIoctls(rawValue: arg.ioctls)
    }

    /// Stops reporting faults on `range` (`ioctl(UFFDIO_UNREGISTER)`); threads
    /// blocked on it are woken and fault again as on ordinary memory.
    public func unregister(_ range: MemoryRange) throws(UFFDError) {
        try requirePages(range, .unregister)
        var arg = uffdio_range(start: UInt64(range.start), len: UInt64(range.length))
        _ = try Syscall.onUserfaultfd(.unregister, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_UNREGISTER, &arg) }.get()
    }

    /// Throws `.misaligned` unless `range` is whole, non-empty pages: the
    /// kernel's EINVAL for this would not say which argument was wrong.
    @inline(__always)
    func requirePages(_ range: MemoryRange, _ operation: UFFDError.Operation) throws(UFFDError) {
        guard range.length > 0, range.isPageAligned else { throw UFFDError(operation, range: range, .misaligned) }
    }
}
