#if canImport(Glibc)
import Glibc
#endif

/// Hints to the kernel's scheduler about the calling thread.
public enum Scheduling {
    /// Gives the calling thread's CPU to another runnable thread, if there is
    /// one, and returns when the scheduler picks this thread again
    /// (`sched_yield(2)`).
    ///
    /// For a thread woken to start long work: the thread that woke it may
    /// have been preempted by the wake-up and has only a little left to do.
    /// `sched_yield` cannot fail on Linux; its result is not checked.
    public static func yield() {
        _ = sched_yield()
    }
}
