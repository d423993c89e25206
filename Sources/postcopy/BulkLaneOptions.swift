import ArgumentParser
import PostcopyWire

/// The bulk lane's options, shared by `source` and `dest` (each side sizes its own end).
struct BulkLaneOptions: ParsableArguments {
    @Option(name: .customLong("bulk-buffer"), help: ArgumentHelp(
        "Kernel send and receive buffers of the bulk lane (e.g. 256K, 4M).",
        discussion: "What these buffers hold is in flight, and a thread faulting on a page in flight waits for it, so they are small by default. On a link with a large bandwidth-delay product (fast and far), raise them to about that product on both sides, or the stream will not fill the link. The kernel caps them at net.core.wmem_max and rmem_max."))
    var bulkBuffer = ByteCount(bytes: FramedSocket.bulkBufferSize)

    func validate() throws {
        guard (4 << 10...1 << 30).contains(bulkBuffer.bytes) else {
            throw ValidationError("--bulk-buffer must be between 4K and 1G, not \(bulkBuffer.bytes) bytes.")
        }
    }
}
