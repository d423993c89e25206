#if canImport(Glibc)
import Glibc
#endif
import CUserfaultfd
import SystemPackage

/// Mode bits of `UFFDIO_COPY`.
public struct CopyMode: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Do not wake threads waiting on the range; wake them later with `wake`.
    public static let dontWake = Self(rawValue: UInt64(UFFDIO_COPY_MODE_DONTWAKE))
    /// Map the new pages write-protected (range registered with `.writeProtect`).
    public static let writeProtect = Self(rawValue: UInt64(UFFDIO_COPY_MODE_WP))
}

/// Mode bits of `UFFDIO_CONTINUE`.
public struct ContinueMode: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let dontWake = Self(rawValue: UInt64(UFFDIO_CONTINUE_MODE_DONTWAKE))
    /// Map the pages write-protected.
    public static let writeProtect = Self(rawValue: UInt64(1) << 1)  // UFFDIO_CONTINUE_MODE_WP, Linux 6.4
}

/// Mode bits of `UFFDIO_MOVE`.
public struct MoveMode: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let dontWake = Self(rawValue: UInt64(UFFDIO_MOVE_MODE_DONTWAKE))
    /// Skip holes in the source instead of failing with ENOENT.
    public static let allowSourceHoles = Self(rawValue: UInt64(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES))
}

extension Userfaultfd {
    /// Atomically fills the missing pages of `destination` with `source`'s
    /// bytes and wakes threads waiting on them (`ioctl(UFFDIO_COPY)`).
    ///
    /// `source` may be any readable memory (not registered); `destination`
    /// must lie in a range registered `.missing`.
    ///
    /// - Complexity: O(pages); one syscall.
    public func copy(to destination: MemoryRange, from source: UnsafeRawPointer, mode: CopyMode = []) throws(UFFDError) -> ResolveOutcome {
        try requirePages(destination, .copy)
        var arg = uffdio_copy(dst: UInt64(destination.start), src: UInt64(UInt(bitPattern: source)),
                              len: UInt64(destination.length), mode: mode.rawValue, copy: 0)
        let result = Syscall.onUserfaultfd(.copy, range: destination) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_COPY, &arg) }
        return try Self.outcome(result, progress: arg.copy)
    }

    /// Maps the shared zero page at the missing pages of `range` and wakes
    /// threads waiting on them (`ioctl(UFFDIO_ZEROPAGE)`). A later write
    /// allocates a private page as usual.
    ///
    /// - Complexity: O(pages) page-table updates and no data copy: a 512-page
    ///   run costs about as much as one page.
    public func zeroPage(_ range: MemoryRange, dontWake: Bool = false) throws(UFFDError) -> ResolveOutcome {
        try requirePages(range, .zeroPage)
        var arg = uffdio_zeropage(range: uffdio_range(start: UInt64(range.start), len: UInt64(range.length)),
                                  mode: dontWake ? UInt64(UFFDIO_ZEROPAGE_MODE_DONTWAKE) : 0, zeropage: 0)
        let result = Syscall.onUserfaultfd(.zeroPage, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_ZEROPAGE, &arg) }
        return try Self.outcome(result, progress: arg.zeropage)
    }

    /// Wakes threads waiting on `range` (`ioctl(UFFDIO_WAKE)`), after pages
    /// were placed with a `dontWake` mode.
    public func wake(_ range: MemoryRange) throws(UFFDError) {
        try requirePages(range, .wake)
        var arg = uffdio_range(start: UInt64(range.start), len: UInt64(range.length))
        _ = try Syscall.onUserfaultfd(.wake, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_WAKE, &arg) }.get()
    }

    /// Resolves MINOR faults on `range` by mapping the pages already in the
    /// page cache (`ioctl(UFFDIO_CONTINUE)`).
    public func `continue`(_ range: MemoryRange, mode: ContinueMode = []) throws(UFFDError) -> ResolveOutcome {
        try requirePages(range, .continue)
        var arg = uffdio_continue(range: uffdio_range(start: UInt64(range.start), len: UInt64(range.length)),
                                  mode: mode.rawValue, mapped: 0)
        let result = Syscall.onUserfaultfd(.continue, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_CONTINUE, &arg) }
        return try Self.outcome(result, progress: arg.mapped)
    }

    /// Write-protects (`enabled`) or un-protects `range`
    /// (`ioctl(UFFDIO_WRITEPROTECT)`). Un-protecting wakes writers blocked on
    /// the range unless `dontWake`.
    public func writeProtect(_ range: MemoryRange, enabled: Bool, dontWake: Bool = false) throws(UFFDError) {
        try requirePages(range, .writeProtect)
        var mode: UInt64 = enabled ? UInt64(UFFDIO_WRITEPROTECT_MODE_WP) : 0
        if dontWake { mode |= UInt64(UFFDIO_WRITEPROTECT_MODE_DONTWAKE) }
        var arg = uffdio_writeprotect(range: uffdio_range(start: UInt64(range.start), len: UInt64(range.length)), mode: mode)
        _ = try Syscall.onUserfaultfd(.writeProtect, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_WRITEPROTECT, &arg) }.get()
    }

    /// Moves the pages at `source` to the missing pages of `destination`
    /// without copying them (`ioctl(UFFDIO_MOVE)`, Linux 6.8); `source` is
    /// left unpopulated. Both must be private anonymous memory of this process
    /// and the source pages exclusively mapped (EBUSY otherwise).
    public func move(to destination: MemoryRange, from source: UInt, mode: MoveMode = []) throws(UFFDError) -> ResolveOutcome {
        try requirePages(destination, .move)
        guard SystemPage.isAligned(source) else {
            throw UFFDError(.move, range: MemoryRange(start: source, length: destination.length), .misaligned)
        }
        var arg = uffdio_move(dst: UInt64(destination.start), src: UInt64(source), len: UInt64(destination.length),
                              mode: mode.rawValue, move: 0)
        let result = Syscall.onUserfaultfd(.move, range: destination) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_MOVE, &arg) }
        return try Self.outcome(result, progress: arg.move)
    }

    /// Marks the missing pages of `range` poisoned (`ioctl(UFFDIO_POISON)`,
    /// Linux 6.6): a thread touching one gets SIGBUS, as for a hardware
    /// memory error. For pages that can never arrive.
    public func poison(_ range: MemoryRange, dontWake: Bool = false) throws(UFFDError) -> ResolveOutcome {
        try requirePages(range, .poison)
        var arg = uffdio_poison(range: uffdio_range(start: UInt64(range.start), len: UInt64(range.length)),
                                mode: dontWake ? UInt64(UFFDIO_POISON_MODE_DONTWAKE) : 0, updated: 0)
        let result = Syscall.onUserfaultfd(.poison, range: range) { cuffd_ioctl(descriptor.rawValue, CUFFD_IOC_POISON, &arg) }
        return try Self.outcome(result, progress: arg.updated)
    }

    /// Interprets a resolving ioctl's result.
    ///
    /// The kernel returns 0 when the whole range was done. Otherwise `progress`
    /// (the structure's output field) holds the bytes done when the ioctl
    /// returned EAGAIN after partial work, or -errno when it did nothing. Only
    /// a positive `progress` with EAGAIN is a byte count.
    @inline(__always)
    static func outcome(_ result: Result<Int32, UFFDError>, progress: Int64) throws(UFFDError) -> ResolveOutcome {
        switch result {
        case .success:
            return .resolved
        case .failure(let error):
            switch error.errno {
            case .resourceTemporarilyUnavailable?:
                return progress > 0 ? .partial(bytes: Int(progress)) : .retryLater
            case .fileExists?:
                return .alreadyPresent
            default:
                throw error
            }
        }
    }
}
