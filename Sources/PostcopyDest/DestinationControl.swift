import Synchronization
import SystemCalls
import UFFDCore

/// Failure and relocation, shared by the destination's threads.
///
/// The threads hold this, not the destination, so a destination whose fault
/// loop must outlive a failure can still be released (and stop it).
final class DestinationControl: Sendable {
    private let failure = LockedValue<(any Error)?>(nil)
    private let failed = Atomic<Bool>(false)
    private let movedRange = LockedValue<MemoryRange?>(nil)
    private let isComplete: @Sendable () -> Bool
    private let onFirstFailure: @Sendable (any Error) -> Void

    /// - Parameters:
    ///   - isComplete: Whether every page is held: failures after that lose
    ///     nothing (the source closing its lanes once done) and are ignored.
    ///   - onFirstFailure: Unblocks the lanes (tell the source, shut the sockets).
    init(isComplete: @escaping @Sendable () -> Bool, onFirstFailure: @escaping @Sendable (any Error) -> Void) {
        self.isComplete = isComplete
        self.onFirstFailure = onFirstFailure
    }

    /// Records `error` if it is the first failure, and unblocks the lanes.
    func fail(_ error: any Error) {
        if isComplete() { return }
        let first = failure.withLock { current -> Bool in
            guard current == nil else { return false }
            current = error
            return true
        }
        guard first else { return }
        failed.store(true, ordering: .releasing)
        onFirstFailure(error)
    }

    /// The first failure, if any.
    var error: (any Error)? { failure.withLock { $0 } }

    /// Cheap check for the fault path.
    var hasFailed: Bool { failed.load(ordering: .acquiring) }

    /// Records that the application moved the region (mremap).
    func moved(to range: MemoryRange) { movedRange.withLock { $0 = range } }

    /// Where the region is now, if it moved.
    var movedTo: MemoryRange? { movedRange.withLock { $0 } }
}
