#if canImport(Glibc)
import Glibc
#endif
import SystemCalls
import SystemPackage

/// Where this module's syscall results become Swift results.
///
/// Every wrapper in this module calls through here (and EINTR is retried in
/// `SystemCall`, the package's one place for it); errnos that can only mean a bug in this library (a closed or
/// wrong descriptor) stop the program instead of travelling as errors.
enum Syscall {
    /// `SystemCall.retryingInterrupts`: the package's one EINTR loop.
    @inline(__always)
    static func retryingInterrupts<Result: FixedWidthInteger>(
        _ body: () -> Result
    ) -> Swift.Result<Result, Errno> {
        SystemCall.retryingInterrupts(body)
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
