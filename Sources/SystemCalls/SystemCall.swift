#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// The one place in the package where an interrupted system call is retried.
///
/// UFFDCore, Bitmaps and PostcopyWire each wrap their syscalls once, adding
/// their own error type and their own list of errnos that can only mean a bug;
/// all of them call through here for the C convention (-1 and `errno`) and for
/// EINTR.
public enum SystemCall {
    /// Calls `body` until it does not fail with EINTR; returns its
    /// non-negative result, or the errno it failed with.
    ///
    /// Returns a `Result` rather than throwing, so callers can use it inside
    /// `withUnsafe...` closures and keep their own typed errors.
    @inlinable @inline(__always)
    public static func retryingInterrupts<Value: FixedWidthInteger>(_ body: () -> Value) -> Result<Value, Errno> {
        while true {
            let value = body()
            if value >= 0 { return .success(value) }
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .interrupted { continue }
            return .failure(errno)
        }
    }
}
