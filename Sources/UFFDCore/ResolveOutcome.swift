/// How a resolving ioctl (COPY, ZEROPAGE, CONTINUE, MOVE, POISON) ended, when
/// it did not fail outright.
///
/// The kernel reports progress in the argument structure's output field as
/// either a byte count or a negative errno; it also returns -EAGAIN both for
/// "stopped part-way" and for "try again, nothing done". This type keeps those
/// apart so no caller ever reads `-EAGAIN` as a huge byte count.
public enum ResolveOutcome: Sendable, Hashable {
    /// The whole range was resolved (and woken, unless asked not to).
    case resolved
    /// The first `bytes` bytes were resolved (and woken); the kernel stopped
    /// there. Resolving the rest may return `.alreadyPresent` for a page that
    /// another thread placed meanwhile.
    case partial(bytes: Int)
    /// The first page of the range is already present (EEXIST); nothing was
    /// changed. Normal when two paths race to place the same page.
    case alreadyPresent
    /// Nothing was done because the address space is changing (EAGAIN with no
    /// progress: an `mremap`/`fork`/`madvise` event is pending). Read the
    /// pending events, then retry.
    case retryLater

    /// Bytes resolved from the start of the range.
    public func resolvedBytes(of length: Int) -> Int {
        switch self {
        case .resolved: length
        case .partial(let bytes): bytes
        case .alreadyPresent, .retryLater: 0
        }
    }
}
