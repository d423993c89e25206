/// Frame headers and bodies as little-endian bytes, in a buffer that is
/// reused from frame to frame so sending allocates nothing once it is warm.
struct FrameEncoder {
    private(set) var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(256)
    }

    /// Empties the buffer, keeping its memory.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    /// Appends `value`, least significant byte first.
    mutating func append<Value: FixedWidthInteger>(_ value: Value) {
        for shift in stride(from: 0, to: Value.bitWidth, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    /// Appends `bytes` as they are.
    mutating func append(contentsOf bytes: some Sequence<UInt8>) {
        self.bytes.append(contentsOf: bytes)
    }

    /// Appends a frame header; `flags` and `skip` are 0 for every type but PAGES.
    mutating func appendHeader(_ type: FrameType, bodyLength: Int, flags: UInt8 = 0, skip: UInt16 = 0) {
        append(UInt32(bodyLength))
        append(type.rawValue)
        append(flags)
        append(skip)
    }

    /// Appends the header and fixed fields of a PAGES frame whose data the
    /// caller sends after them: a continuing frame (header alone) when the
    /// first page lies at most 65,535 pages after `previousEnd`, else one
    /// that names its first page.
    ///
    /// - Parameter previousEnd: The page after the last PAGES frame sent on
    ///   this connection; nil before the first.
    /// - Returns: The page after this frame's last, the next `previousEnd`.
    /// - Throws: What a receiver with the same geometry and limits would
    ///   throw for this frame, so this side never sends a frame the other
    ///   must reject.
    /// - Precondition: `dataLength` is `count` pages: the caller's count
    ///   and data disagreeing is a bug on this side, not the peer's.
    mutating func appendPagesHead(
        offset: Int, count: Int, isReply: Bool, dataLength: Int, previousEnd: Int?, geometry: Geometry?,
        limits: FrameLimits
    ) throws(WireError) -> Int {
        guard let geometry else { throw .frameBeforeHandshake(type: FrameType.pages.rawValue) }
        try geometry.checkRange(offset: UInt64(truncatingIfNeeded: offset), count: count)
        precondition(dataLength == count * geometry.pageSize,
                     "PAGES of \(count) pages of \(geometry.pageSize) bytes with \(dataLength) bytes of data")
        // Checked as if the frame named its page, so whether a call succeeds
        // does not depend on the frames sent before it.
        guard Wire.pageIndexLength + dataLength <= limits.maxBodyLength else {
            throw .oversizedFrame(length: Wire.pageIndexLength + dataLength, limit: limits.maxBodyLength)
        }
        let page = geometry.pageIndex(ofOffset: offset)
        let flags = isReply ? PagesFlags.reply : 0
        let skip = previousEnd.map { Int(page) - $0 }
        if let skip, (0...Int(UInt16.max)).contains(skip) {
            appendHeader(.pages, bodyLength: dataLength, flags: flags | PagesFlags.continues, skip: UInt16(skip))
        } else {
            appendHeader(.pages, bodyLength: Wire.pageIndexLength + dataLength, flags: flags)
            append(page)
        }
        return Int(page) + count
    }
}

extension Frame {
    /// Appends the frame, header first, to `encoder`, except for a BITMAP's
    /// encoded bytes, which are returned for the caller to send as they are.
    ///
    /// - Throws: What a receiver with the same geometry and limits would
    ///   throw for this frame.
    /// - Precondition: Not `.pages` (its data travels with `sendPages`);
    ///   counts fit their u32 fields.
    func encode(
        into encoder: inout FrameEncoder, geometry: Geometry?, limits: FrameLimits
    ) throws(WireError) -> [UInt8] {
        if type.needsGeometry && geometry == nil { throw .frameBeforeHandshake(type: type.rawValue) }
        let bodyLength = try validatedBodyLength(geometry: geometry, limits: limits)
        encoder.appendHeader(type, bodyLength: bodyLength)
        switch self {
        case .join(let join):
            encoder.append(Wire.magic)
            encoder.append(Wire.version)
            encoder.append(join.lane.rawValue)
            encoder.append(UInt8(0))
            encoder.append(join.session)
        case .hello(let hello):
            encoder.append(Wire.magic)
            encoder.append(Wire.version)
            encoder.append(UInt16(0))
            encoder.append(UInt32(hello.pageSize))
            encoder.append(UInt32(0))
            encoder.append(UInt64(hello.regionLength))
            encoder.append(hello.features.rawValue)
            encoder.append(hello.session)
        case .ready, .done:
            break
        case .bitmap(let kind, let encoded):
            encoder.append(kind)
            encoder.append(UInt8(0))
            encoder.append(UInt16(0))
            encoder.append(UInt32(0))
            return encoded
        case .resume(let hasSkipBitmap, let held):
            encoder.append(UInt8(hasSkipBitmap ? 1 : 0))
            encoder.append(UInt8(0))
            encoder.append(UInt16(0))
            encoder.append(UInt32(0))
            return held
        case .pages:
            preconditionFailure("PAGES carry data: send them with FramedSocket.sendPages")
        case .zero(let offset, let count), .discard(let offset, let count):
            encoder.append(geometry!.pageIndex(ofOffset: offset))
            encoder.append(UInt32(count))
        case .request(let offsets):
            for offset in offsets { encoder.append(geometry!.pageIndex(ofOffset: offset)) }
        case .complete(let pagesHeld):
            encoder.append(UInt64(pagesHeld))
        case .error(let code, let reason):
            encoder.append(code)
            encoder.append(contentsOf: reason.utf8)
        }
        return []
    }

    /// The body length, after the checks the receiver will make.
    private func validatedBodyLength(geometry: Geometry?, limits: FrameLimits) throws(WireError) -> Int {
        let bodyLength: Int
        switch self {
        case .join, .ready, .done:
            bodyLength = type.fixedBodyLength!
        case .hello(let hello):
            guard Features.known.isSuperset(of: hello.features) else {
                throw .unknownFeatures(hello.features.subtracting(.known).rawValue)
            }
            bodyLength = type.fixedBodyLength!
        case .bitmap(let kind, let encoded):
            guard kind == Wire.skipBitmapKind else { throw .bitmapKindUnknown(kind) }
            guard !encoded.isEmpty else { throw .emptyBitmap }
            bodyLength = type.minimumBodyLength + encoded.count
        case .resume(_, let held):
            guard !held.isEmpty else { throw .emptyBitmap }
            bodyLength = type.minimumBodyLength + held.count
        case .pages:
            preconditionFailure("PAGES carry data: send them with FramedSocket.sendPages")
        case .zero(let offset, let count), .discard(let offset, let count):
            precondition(count <= UInt32.max, "a ZERO or DISCARD frame covers at most 2^32-1 pages; split the range")
            try geometry!.checkRange(offset: UInt64(truncatingIfNeeded: offset), count: count)
            bodyLength = type.fixedBodyLength!
        case .request(let offsets):
            guard !offsets.isEmpty else { throw .zeroCount }
            guard offsets.count <= limits.maxRequestCount else {
                throw .tooManyOffsets(count: offsets.count, limit: limits.maxRequestCount)
            }
            for offset in offsets { try geometry!.checkPage(offset: UInt64(truncatingIfNeeded: offset)) }
            bodyLength = Wire.pageIndexLength * offsets.count
        case .complete(let pagesHeld):
            // Before HELLO the receiver bounds it by the largest geometry.
            let pageCount = geometry?.pageCount ?? Geometry.maxPageCount
            if pagesHeld < 0 || pagesHeld > pageCount {
                throw .pagesHeldOutOfRange(pagesHeld: UInt64(truncatingIfNeeded: pagesHeld), pageCount: pageCount)
            }
            precondition(pagesHeld >= 0, "a page count is never negative")
            bodyLength = type.fixedBodyLength!
        case .error(_, let reason):
            guard reason.utf8.count <= Wire.maxReasonLength else { throw .reasonTooLong(reason.utf8.count) }
            bodyLength = type.minimumBodyLength + reason.utf8.count
        }
        guard bodyLength <= limits.maxBodyLength else {
            throw .oversizedFrame(length: bodyLength, limit: limits.maxBodyLength)
        }
        return bodyLength
    }
}
