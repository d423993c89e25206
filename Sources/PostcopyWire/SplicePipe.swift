#if canImport(Glibc)
import Glibc
#endif
import CPipe
import SystemCalls
import SystemPackage

/// Sends page data to a socket without copying it in the sender: the pages
/// go into a pipe by reference (`vmsplice(2)`) and from the pipe into the
/// socket (`splice(2)`), where the socket's buffers hold the pages
/// themselves until the peer has read them.
///
/// For data that does not change until the peer has received it, such as a
/// source's region while it is served (`SourceRegion` requires this):
/// the bytes the peer reads are the pages' contents when it reads them, not
/// when `send` returned.
///
/// Measured on 2 vCPUs (`bench/diagnostics/splice-link.c`): over a Unix
/// socket the sender's CPU per GiB fell from 0.20-1.03 s to 0.08 s; over
/// TCP loopback it saved nothing (the TCP stack, not the copy, is the
/// sender's cost there).
///
/// Owns the pipe; not thread-safe (`FramedSocket` holds its send lock).
final class SplicePipe: @unchecked Sendable {
    // @unchecked: a pipe's contents are state; `FramedSocket` uses it only
    // under its send lock, one frame at a time.

    /// The pipe's capacity asked for: one stream frame (256 KiB), so a frame
    /// takes one `vmsplice` and one `splice`. The kernel may grant less
    /// (`/proc/sys/fs/pipe-max-size`), which costs only more calls.
    static let capacity = 256 << 10

    private let readEnd: FileDescriptor
    private let writeEnd: FileDescriptor
    /// The signal mask `send` saves and restores (a `sigset_t`, as bytes),
    /// kept so a frame costs no allocation.
    private var savedMask = [UInt8](repeating: 0, count: cpipe_sigset_size())

    /// A pipe for splicing (`pipe2(2)`, `O_CLOEXEC`), grown with
    /// `fcntl(F_SETPIPE_SZ)` where the kernel allows.
    ///
    /// - Throws: `.system` when the process cannot get a pipe (EMFILE, ENFILE).
    init() throws(WireError) {
        var fds: (Int32, Int32) = (-1, -1)
        _ = try withUnsafeMutableBytes(of: &fds) { raw throws(WireError) in
            try Syscall.onSocket("pipe2") { cpipe_open(raw.baseAddress!.assumingMemoryBound(to: Int32.self)) }.get()
        }
        readEnd = FileDescriptor(rawValue: fds.0)
        writeEnd = FileDescriptor(rawValue: fds.1)
        // A smaller pipe works too, with more calls: the result is not checked.
        _ = cpipe_set_size(writeEnd.rawValue, Int32(Self.capacity))
    }

    deinit {
        _ = try? readEnd.close()
        _ = try? writeEnd.close()
    }

    /// Sends all of `data` to `socket`: `vmsplice` into the pipe, `splice`
    /// from it, until every byte is in the socket.
    ///
    /// `SIGPIPE`, which `splice` into a socket whose peer has gone raises
    /// (it takes no `MSG_NOSIGNAL`), is blocked in the calling thread for
    /// the call and a pending one taken before the mask is restored: a
    /// closed peer is `EPIPE`, as with `sendmsg`.
    ///
    /// - Throws: `.system` naming the call that failed. Part of `data` may
    ///   then be in the socket or the pipe; the connection cannot be used.
    /// - Complexity: O(`data.count` / pipe capacity) calls; no bytes copied
    ///   in the sender.
    func send(_ data: UnsafeRawBufferPointer, to socket: FileDescriptor) throws(WireError) {
        guard !data.isEmpty else { return }
        let blocked = savedMask.withUnsafeMutableBytes { cpipe_block_sigpipe($0.baseAddress, $0.count) }
        precondition(blocked == 0, "pthread_sigmask failed: \(blocked)")
        defer {
            let restored = savedMask.withUnsafeBytes { cpipe_restore_sigpipe($0.baseAddress, $0.count) }
            precondition(restored == 0, "pthread_sigmask failed: \(restored)")
        }
        var rest = data[...]
        while !rest.isEmpty {
            let part = UnsafeRawBufferPointer(rebasing: rest)
            var inPipe = try Syscall.onSocket("vmsplice") {
                cpipe_vmsplice(writeEnd.rawValue, part.baseAddress, part.count)
            }.get()
            rest = rest.dropFirst(inPipe)
            while inPipe > 0 {
                let moved = try Syscall.onSocket("splice to the socket") {
                    cpipe_splice(readEnd.rawValue, socket.rawValue, inPipe, rest.isEmpty ? 0 : 1)
                }.get()
                precondition(moved > 0, "splice from a non-empty pipe into a blocking socket moved nothing")
                inPipe -= moved
            }
        }
    }
}
