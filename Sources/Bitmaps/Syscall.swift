import SystemCalls
import SystemPackage

/// This module's syscalls go through the package's one EINTR loop,
/// `SystemCall.retryingInterrupts`; the name is kept for the call sites here.
@inline(__always)
func retryingOnInterrupt<Value: FixedWidthInteger & SignedInteger>(
    _ call: () -> Value
) -> Result<Value, Errno> {
    SystemCall.retryingInterrupts(call)
}
