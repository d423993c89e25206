import ArgumentParser
import PostcopyWire
import SystemCalls

/// The bulk lane's options, shared by `source` and `dest` (each side sizes its own end).
struct BulkLaneOptions: ParsableArguments {
    @Option(name: .customLong("bulk-buffer"), help: ArgumentHelp(
        "Kernel send and receive buffers of the bulk lane (e.g. 256K, 4M).",
        discussion: "What these buffers hold is in flight, and a thread faulting on a page in flight waits for it, so they are small by default. On a link with a large bandwidth-delay product (fast and far), raise them to about that product on both sides, or the stream will not fill the link. The kernel caps them at net.core.wmem_max and rmem_max."))
    var bulkBuffer = ByteCount(bytes: FramedSocket.bulkBufferSize)

    @Option(name: .customLong("stream-cpus"), help: ArgumentHelp(
        "Confine this side's background-stream threads to these CPUs (e.g. 1, 2-3).",
        discussion: StreamCPUs.discussion, valueName: "cpus"))
    var streamCPUList: String?

    /// `--stream-cpus`, parsed (checked in `validate`).
    var streamCPUs: CPUSet? { streamCPUList.flatMap { try? CPUSet(parsing: $0) } }

    func validate() throws {
        guard (4 << 10...1 << 30).contains(bulkBuffer.bytes) else {
            throw ValidationError("--bulk-buffer must be between 4K and 1G, not \(bulkBuffer.bytes) bytes.")
        }
        _ = try StreamCPUs.validated(streamCPUList)
    }
}

/// `--stream-cpus`, as `source`, `dest`, `demo` and `bench-faults` take it.
enum StreamCPUs {
    static let discussion = """
        The source's stream thread, or the destination's bulk-lane receiver and placing threads, run only on these \
        CPUs; the threads that answer faults, and the application's, keep the others. Their wake-ups then find a CPU \
        free: remote faults wait less while the stream runs, and the stream moves slower. On 2 vCPUs, with both \
        sides' stream threads on CPU 1, random remote faults under the stream measured 1.1-1.3x the C floor instead \
        of 1.3-6.8x, and a 2 GiB migration took 1.3-2.8x longer. Give the stream CPUs the application does not need.
        """

    /// Parses `list` and checks this process may run on every CPU in it.
    static func validated(_ list: String?) throws -> CPUSet? {
        guard let list else { return nil }
        let cpus: CPUSet
        do {
            cpus = try CPUSet(parsing: list)
        } catch {
            throw ValidationError("--stream-cpus: \(error)")
        }
        do {
            try cpus.checkAvailable()
        } catch {
            throw ValidationError("--stream-cpus: \(error).")
        }
        return cpus
    }
}
