#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A value that only one thread at a time may read or change.
///
/// In a normal build this is `Synchronization.Mutex`. Built with
/// `-D POSTCOPY_TSAN` (`make tsan`) it is a `pthread_mutex_t` instead.
/// Why: on Linux the standard library's Mutex locks with atomics and futex
/// calls inside the prebuilt, uninstrumented runtime, so ThreadSanitizer
/// sees no happens-before edge and reports every guarded access as a race.
/// It does see `pthread_mutex_lock`, which it intercepts.
///
/// The interface is Mutex's, so the two builds differ in this file only.
public struct LockedValue<Value: ~Copyable>: ~Copyable {
#if POSTCOPY_TSAN
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    /// Calls `pthread_mutex_init(3)` on storage of its own: a mutex must not move.
    public init(_ initialValue: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init: \(result)")
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` between `pthread_mutex_lock(3)` and `pthread_mutex_unlock(3)`.
    /// Not reentrant: calling it again from `body` deadlocks.
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        // Fails only on a corrupted mutex: a bug, never a condition to handle.
        let locked = pthread_mutex_lock(mutex)
        precondition(locked == 0, "pthread_mutex_lock: \(locked)")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
#else
    @usableFromInline let mutex: Mutex<Value>

    public init(_ initialValue: consuming sending Value) {
        mutex = Mutex(initialValue)
    }

    /// Runs `body` while holding the lock (`Mutex.withLock`).
    /// Not reentrant: calling it again from `body` deadlocks.
    @inlinable
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        try mutex.withLock(body)
    }
#endif
}

// Like Mutex: the lock is what makes sharing the value safe.
extension LockedValue: @unchecked Sendable where Value: ~Copyable {}
