import Bitmaps

/// An error that names the ERROR code telling the peer about it
/// (`Frame.error(reporting:)`): whether the peer broke the protocol, the two
/// sides disagree, or this side failed on its own.
public protocol PeerReportable: Error {
    /// The code of the ERROR frame that reports this error.
    var wireErrorCode: WireErrorCode { get }
}

extension WireError: PeerReportable {
    public var wireErrorCode: WireErrorCode { code }
}

/// A bitmap that does not decode came from the peer (BITMAP or RESUME).
extension RunLengthCodec.DecodeError: PeerReportable {
    public var wireErrorCode: WireErrorCode { .protocolViolation }
}
