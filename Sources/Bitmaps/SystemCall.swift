import Glibc
import SystemPackage

/// Makes a system call that reports failure as -1 with `errno`, retrying it for
/// as long as it fails with EINTR; every system call in the module goes through
/// here, so this is the one place interrupted calls are retried.
///
/// Returns a `Result` rather than throwing so that callers can use it inside the
/// standard library's `withUnsafe...` closures without losing the error type.
func retryingOnInterrupt<Value: FixedWidthInteger & SignedInteger>(
    _ call: () -> Value
) -> Result<Value, Errno> {
    while true {
        let value = call()
        guard value == -1 else { return .success(value) }
        let error = Errno(rawValue: errno)
        guard error == .interrupted else { return .failure(error) }
    }
}
