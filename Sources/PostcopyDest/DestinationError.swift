import Bitmaps
import PostcopyWire
import UFFDCore

/// Why a destination could not complete.
public enum DestinationError: Error, Sendable, Equatable, CustomStringConvertible, PeerReportable {
    case unexpectedFrame(state: String, frame: String)
    case pageSizeMismatch(source: Int, local: Int)
    case providedMemoryMismatch(length: Int, expected: Int)
    case doneBeforeComplete(held: Int, pageCount: Int)
    case system(operation: String, errno: Int32)
    case regionMoved(from: UInt, to: UInt, length: Int)
    case sourceUnreachable(seconds: Double, attempts: Int, cause: String, lastError: String)
    case differentSource(endpoint: String)

    /// What the source is told: a frame out of place is its fault, a page
    /// size or region that cannot fit is a disagreement; everything else
    /// failed here.
    public var wireErrorCode: WireErrorCode {
        switch self {
        case .unexpectedFrame, .doneBeforeComplete: .protocolViolation
        case .pageSizeMismatch, .providedMemoryMismatch: .geometryMismatch
        case .system, .regionMoved, .sourceUnreachable, .differentSource: .internal
        }
    }

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
        case .regionMoved(let from, let to, let length):
            "the application moved \(length) bytes of the region (mremap from 0x\(String(from, radix: 16)) to 0x\(String(to, radix: 16))) while it was arriving; a migration cannot follow a moved region"
        case .sourceUnreachable(let seconds, let attempts, let cause, let lastError):
            "the connection to the source was lost (\(cause)) and \(attempts) attempts to reconnect within \(seconds) s failed; the last: \(lastError)"
        case .differentSource(let endpoint):
            "\(endpoint) now answers with another migration (session or region differ): not the source this destination was receiving from"
        }
    }
}

/// A migration that ended without the whole region: why, and what arrived.
public struct DestinationFailure: Error, CustomStringConvertible {
    /// The first failure of a lane or of the fault loop.
    public var cause: any Error
    public var pagesHeld: Int
    public var pageCount: Int
    /// Which pages arrived (set) and which never did (clear).
    public var held: PageBitmap
    /// Pages poisoned: a thread touching one gets SIGBUS.
    public var pagesPoisoned: Int
    /// Why poisoning failed, if it did (threads on missing pages then wait).
    public var poisonError: UFFDError?
    /// The counters up to the failure.
    public var report: DestinationReport

    public var description: String {
        var text = "migration failed with \(pagesHeld) of \(pageCount) pages received: \(cause)"
        if pagesPoisoned > 0 {
            text += "; the \(pagesPoisoned) pages that never arrived are poisoned (a thread touching one gets SIGBUS)"
        } else if let poisonError {
            text += "; poisoning the missing pages failed (\(poisonError)): threads touching them will wait"
        }
        return text
    }
}
