import SystemCalls

/// The stream's last frames, with where each ended in the stream: enough to
/// tell whether a page was sent within the last few hundred KiB.
///
/// A page streamed that recently is still at the back of the queue (socket
/// buffers, the destination's placing queue): a faulting thread would wait
/// for everything ahead of it, so the source sends it again as a reply. A
/// page streamed longer ago is near the front and arrives sooner than a
/// reply could; it is not sent twice.
final class RecentFrames: Sendable {
    private struct Frame {
        var pages: Range<Int>
        /// Stream bytes sent up to and including this frame.
        var end: Int
    }

    private struct State {
        var frames: [Frame]
        var next = 0
        var streamed = 0
    }

    private let capacity: Int
    private let state: LockedValue<State>

    /// Remembers the last `capacity` frames.
    init(capacity: Int) {
        precondition(capacity > 0, "capacity \(capacity)")
        self.capacity = capacity
        state = LockedValue(State(frames: Array(repeating: Frame(pages: 0..<0, end: 0), count: capacity)))
    }

    /// Records a frame of `pages` and its `bytes` on the wire.
    ///
    /// - Complexity: O(1).
    func record(_ pages: Range<Int>, bytes: Int) {
        state.withLock { state in
            state.streamed += bytes
            state.frames[state.next] = Frame(pages: pages, end: state.streamed)
            state.next = (state.next + 1) % capacity
        }
    }

    /// Whether `page` went out in a frame with fewer than `window` stream
    /// bytes after it. When the frames remembered do not reach back `window`
    /// bytes (many small frames), an older page counts as recent too: a
    /// needless copy costs bytes, a wrong guess the other way a long wait.
    ///
    /// - Complexity: O(frames within `window`), at most O(`capacity`).
    func sentWithin(_ window: Int, _ page: Int) -> Bool {
        state.withLock { state in
            for back in 1...capacity {
                let frame = state.frames[(state.next - back + capacity) % capacity]
                if frame.pages.isEmpty { return false }  // fewer frames than capacity: all seen
                if state.streamed - frame.end >= window { return false }
                if frame.pages.contains(page) { return true }
            }
            return true
        }
    }
}
