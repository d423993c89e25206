#if canImport(Glibc)
import Glibc
#endif
import SystemPackage

/// The one place where syscall results become Swift results.
///
/// Every wrapper in this module calls through here, so EINTR is retried in one
/// place and errnos that can only mean a bug in this library (a closed or
/// wrong descriptor) stop the program instead of travelling as errors.
enum Syscall {
    /// Calls `body` until it does not fail with EINTR; returns its non-negative
    /// result or the errno it failed with.
    @inline(__always)
    static func retryingInterrupts<Result: FixedWidthInteger>(
        _ body: () -> Result
    ) -> Swift.Result<Result, Errno> {
        while true {
            let value = body()
            if value >= 0 { return .success(value) }
            let errno = Errno(rawValue: Glibc.errno)
            if errno == .interrupted { continue }
            return .failure(errno)
        }
    }

    /// Like `retryingInterrupts`, and preconditions that `errno` is not one
    /// that only a bug produces (the descriptor is ours and is a userfaultfd).
    @inline(__always)
    static func onUserfaultfd<Result: FixedWidthInteger>(
        _ operation: UFFDError.Operation, range: MemoryRange? = nil,
        _ body: () -> Result
    ) -> Swift.Result<Result, UFFDError> {
        switch retryingInterrupts(body) {
        case .success(let value):
            return .success(value)
        case .failure(let errno):
            precondition(errno != .badFileDescriptor && errno != .inappropriateIOCTLForDevice,
                         "\(operation.rawValue) on a descriptor that is not an open userfaultfd: \(errno)")
            return .failure(UFFDError(operation, range: range, .system(errno)))
        }
    }
}
