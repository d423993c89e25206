#if canImport(Glibc)
import Glibc
#endif
import CUserfaultfd
import SystemPackage

/// Memory for reading many `uffd_msg` with one `read(2)`.
///
/// Allocated once and reused, so the fault path allocates nothing. Not
/// copyable: it owns its memory, and one reader uses it at a time.
public struct EventBuffer: ~Copyable {
    let messages: UnsafeMutableBufferPointer<uffd_msg>

    /// Room for `capacity` messages per read (each is 32 bytes).
    public init(capacity: Int = 64) {
        precondition(capacity > 0, "an event buffer needs room for one message")
        messages = .allocate(capacity: capacity)
    }

    deinit { messages.deallocate() }

    /// Messages one read can return.
    public var capacity: Int { messages.count }
}

extension Userfaultfd {
    /// Reads the pending events, up to the buffer's capacity, with one
    /// `read(2)`, and hands each to `body` in the order the kernel queued them.
    ///
    /// On a non-blocking descriptor returns 0 when nothing is pending; on a
    /// blocking one waits for at least one event.
    ///
    /// - Returns: The number of events read.
    /// - Complexity: One syscall, O(events).
    @discardableResult
    public func readEvents(into buffer: inout EventBuffer, _ body: (UFFDEvent) throws -> Void) throws -> Int {
        let size = MemoryLayout<uffd_msg>.stride
        let result = Syscall.onUserfaultfd(.read) {
            Glibc.read(descriptor.rawValue, UnsafeMutableRawPointer(buffer.messages.baseAddress!), buffer.capacity * size)
        }
        let bytes: Int
        switch result {
        case .success(let count): bytes = count
        case .failure(let error) where error.errno == .resourceTemporarilyUnavailable: return 0
        case .failure(let error): throw error
        }
        precondition(bytes % size == 0, "read(userfaultfd) returned \(bytes) bytes, not whole messages")
        let count = bytes / size
        for index in 0..<count {
            try body(event(from: buffer.messages[index]))
        }
        return count
    }

    /// Turns one message into an event. A message type this library never
    /// asked for can only be a bug (the kernel sends only enabled events).
    @inline(__always)
    private func event(from message: uffd_msg) -> UFFDEvent {
        switch Int32(message.event) {
        case UFFD_EVENT_PAGEFAULT:
            let fault = message.arg.pagefault
            return .pageFault(PageFault(address: UInt(fault.address), flags: .init(rawValue: fault.flags),
                                        threadID: Int32(bitPattern: fault.feat.ptid)))
        case UFFD_EVENT_FORK:
            let child = FileDescriptor(rawValue: Int32(bitPattern: message.arg.fork.ufd))
            return .fork(child: Userfaultfd(adopting: child, features: features, ioctls: ioctls,
                                            handlesKernelFaults: handlesKernelFaults))
        case UFFD_EVENT_REMAP:
            let remap = message.arg.remap
            return .remap(from: UInt(remap.from), to: UInt(remap.to), length: Int(remap.len))
        case UFFD_EVENT_REMOVE:
            let remove = message.arg.remove
            return .remove(MemoryRange(start: UInt(remove.start), length: Int(remove.end - remove.start)))
        case UFFD_EVENT_UNMAP:
            let remove = message.arg.remove
            return .unmap(MemoryRange(start: UInt(remove.start), length: Int(remove.end - remove.start)))
        default:
            preconditionFailure("userfaultfd sent unknown event type \(message.event)")
        }
    }
}
