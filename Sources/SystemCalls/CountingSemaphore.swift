#if canImport(Glibc)
import Glibc
#endif

/// A counting semaphore (`sem_t`) for handing work between dedicated threads.
///
/// Threads that block in the kernel (in `recv`, in a page fault) cannot use
/// Swift concurrency's suspension, and `Synchronization` has no condition
/// variable; a POSIX semaphore is the smallest blocking primitive that
/// ThreadSanitizer also understands (it intercepts `sem_wait`/`sem_post`).
public final class CountingSemaphore: @unchecked Sendable {
    // @unchecked: `sem_t` is made for sharing between threads; the pointer
    // never changes and the storage never moves.
    private let semaphore: UnsafeMutablePointer<sem_t>

    /// Wraps `sem_init(3)` (not shared between processes) on storage of its
    /// own: a semaphore must not move.
    public init(value: Int) {
        precondition(value >= 0 && value <= Int(Int32.max), "semaphore value \(value)")
        semaphore = .allocate(capacity: 1)
        semaphore.initialize(to: sem_t())
        // EINVAL (value above SEM_VALUE_MAX) is excluded above; nothing else can fail.
        let result = sem_init(semaphore, 0, UInt32(value))
        precondition(result == 0, "sem_init: errno \(errno)")
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Takes one unit, blocking until there is one (`sem_wait(3)`, retried
    /// on EINTR).
    public func wait() {
        // EINVAL (not a semaphore) is the only other failure: a bug.
        let result = SystemCall.retryingInterrupts { sem_wait(semaphore) }
        if case .failure(let errno) = result { preconditionFailure("sem_wait: \(errno)") }
    }

    /// Returns one unit and wakes one waiter (`sem_post(3)`).
    public func signal() {
        // EOVERFLOW means more posts than the semaphore was built to count: a bug.
        let result = sem_post(semaphore)
        precondition(result == 0, "sem_post: errno \(errno)")
    }
}
