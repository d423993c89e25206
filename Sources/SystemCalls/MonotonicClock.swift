#if canImport(Glibc)
import Glibc
#endif

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: a vDSO call, no syscall,
/// cheap enough to read per fault or per poll.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
