import PostcopyWire
import SystemCalls
import UFFDCore

/// Threads that place the bulk lane's pages while its receiver receives the
/// next frames.
///
/// Placing (`UFFDIO_COPY` into fresh memory) costs several times what
/// receiving does, and populating fresh memory scales with threads (1 GiB on
/// this project's 2-vCPU VM: ~2.0-2.5 GiB/s on one thread, ~3.6-4.2 on two).
/// Done in series on one thread, receiving and placing leave a CPU idle.
///
/// The receiver takes a free `PageBuffer`, moves a frame's data into it
/// (`FramedSocket.movePageData`, no copy) and submits it; a placing thread
/// places it and returns the buffer. `bufferCount` buffers bound the data
/// held between the two, so a slow placer holds the receiver back and the
/// socket's flow control holds back the source.
final class PlacingThreads: Sendable {
    /// One frame's pages, waiting to be placed.
    private struct Job {
        let buffer: PageBuffer
        let pages: Range<Int>
        let isReply: Bool
    }

    private let placer: PagePlacer
    private let statistics: DestinationStatistics
    private let bufferCount: Int
    /// Free buffers; `freeBuffers` counts them.
    private let free: LockedValue<[PageBuffer]>
    private let freeBuffers: CountingSemaphore
    /// Submitted jobs in order (nil: a thread's signal to stop); `queued`
    /// counts them.
    private let jobs = LockedValue<[Job?]>([])
    private let queued = CountingSemaphore(value: 0)
    /// The first placement error; later jobs are returned unplaced.
    private let failure = LockedValue<(any Error)?>(nil)
    private let threads: LockedValue<[DedicatedThread]>

    /// Starts `threadCount` placing threads sharing `bufferCount` buffers.
    ///
    /// - Precondition: `threadCount > 0`, `bufferCount > threadCount`, so the
    ///   receiver always has a buffer to receive into while each thread places.
    init(threadCount: Int, bufferCount: Int, placer: PagePlacer, statistics: DestinationStatistics) {
        precondition(threadCount > 0 && bufferCount > threadCount, "\(threadCount) threads, \(bufferCount) buffers")
        self.placer = placer
        self.statistics = statistics
        self.bufferCount = bufferCount
        free = LockedValue((0..<bufferCount).map { _ in PageBuffer() })
        freeBuffers = CountingSemaphore(value: bufferCount)
        threads = LockedValue([])
        let started = (0..<threadCount).map { _ in
            DedicatedThread(name: "placing") { [self] in self.placeUntilStopped() }
        }
        threads.withLock { $0 = started }
    }

    /// A free buffer, waiting for a placing thread to return one if none is.
    func takeBuffer() -> PageBuffer {
        freeBuffers.wait()
        return free.withLock { $0.removeLast() }
    }

    /// Queues `buffer`'s data, which are the bytes of `pages`, for placing.
    ///
    /// - Throws: The first error a placing thread met, so the receiver stops.
    func submit(_ buffer: PageBuffer, pages: Range<Int>, isReply: Bool) throws {
        if let error = failure.withLock({ $0 }) {
            giveBack(buffer)
            throw error
        }
        jobs.withLock { $0.append(Job(buffer: buffer, pages: pages, isReply: isReply)) }
        queued.signal()
    }

    /// Waits until every submitted frame has been placed (or failed); then
    /// throws the first placement error, if any.
    ///
    /// - Complexity: O(`bufferCount`) semaphore operations.
    func drain() throws {
        // Every buffer back in the free list means nothing is queued or placing.
        for _ in 0..<bufferCount { freeBuffers.wait() }
        for _ in 0..<bufferCount { freeBuffers.signal() }
        try throwFailure()
    }

    /// Drains, then stops and joins the threads. Idempotent.
    func stop() {
        let stopping = threads.withLock { list in
            defer { list = [] }
            return list
        }
        guard !stopping.isEmpty else { return }
        jobs.withLock { $0.append(contentsOf: Array(repeating: nil, count: stopping.count)) }
        for _ in stopping { queued.signal() }
        stopping.forEach { $0.join() }
    }

    private func throwFailure() throws {
        if let error = failure.withLock({ $0 }) { throw error }
    }

    private func placeUntilStopped() {
        while true {
            queued.wait()
            guard let job = jobs.withLock({ $0.removeFirst() }) else { return }
            if failure.withLock({ $0 }) == nil {
                do {
                    try place(job)
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            giveBack(job.buffer)
        }
    }

    private func giveBack(_ buffer: PageBuffer) {
        free.withLock { $0.append(buffer) }
        freeBuffers.signal()
    }

    private func place(_ job: Job) throws {
        try placer.copy(job.pages, from: job.buffer.bytes.baseAddress!)
        statistics.bytesReceived.add(job.pages.count * SystemPage.size, ordering: .relaxed)
        if job.isReply {
            statistics.pagesReceivedAsReply.add(job.pages.count, ordering: .relaxed)
        } else {
            statistics.pagesStreamed.add(job.pages.count, ordering: .relaxed)
        }
    }
}
