/// Why a destination could not complete.
public enum DestinationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unexpectedFrame(state: String, frame: String)
    case pageSizeMismatch(source: Int, local: Int)
    case providedMemoryMismatch(length: Int, expected: Int)
    case doneBeforeComplete(held: Int, pageCount: Int)
    case system(operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .unexpectedFrame(let state, let frame): "unexpected \(frame) frame \(state)"
        case .pageSizeMismatch(let source, let local):
            "the source's page size is \(source) bytes, this machine's \(local): the region cannot be placed page by page"
        case .providedMemoryMismatch(let length, let expected):
            "the memory provided is \(length) bytes (or not page-aligned); the source's region is \(expected) bytes"
        case .doneBeforeComplete(let held, let pageCount):
            "the source said DONE while this destination holds \(held) of \(pageCount) pages"
        case .system(let operation, let errno): "\(operation) failed: errno \(errno)"
        }
    }
}
