/// Bounds a receiver puts on what a peer may make it read or allocate.
public struct FrameLimits: Sendable, Equatable {
    /// The longest body accepted: by default 16 MiB + 64, room for eight
    /// 2 MiB pages or an encoded bitmap of a large region.
    public var maxBodyLength: Int
    /// The most offsets one REQUEST may carry.
    public var maxRequestCount: Int

    /// The most pages one PAGES frame may carry under these limits.
    public func maxPagesPerFrame(pageSize: Int) -> Int {
        (maxBodyLength - Wire.pageIndexLength) / pageSize
    }

    public init(maxBodyLength: Int = (16 << 20) + 64, maxRequestCount: Int = 65536) {
        precondition(maxBodyLength >= 40 && maxBodyLength <= Int(UInt32.max),
                     "maxBodyLength must hold a HELLO and fit the header's u32")
        precondition(maxRequestCount >= 1, "maxRequestCount must allow one offset")
        self.maxBodyLength = maxBodyLength
        self.maxRequestCount = maxRequestCount
    }
}

extension FrameReader {
    /// Reads and validates one frame. The checks run in the order the
    /// fields arrive, and each rejects as soon as it can: a bad header is
    /// refused before its body is read, a bad count before its payload.
    ///
    /// Consumes exactly the frame when it is valid. After an error the
    /// stream's position is unknown, and the connection must be dropped.
    ///
    /// - Parameter geometry: The region's, once HELLO is exchanged; nil
    ///   before, when only JOIN, HELLO, READY, COMPLETE, DONE and ERROR may
    ///   arrive.
    mutating func decodeFrame(geometry: Geometry?, limits: FrameLimits) throws(WireError) -> Frame {
        if let piece = try nextPiece(geometry: geometry) { return piece }
        beginFrame()
        try prefetch(Wire.headerLength)
        let bodyLength = Int(try read(UInt32.self))
        let rawType = try read(UInt8.self)
        let flags = try read(UInt8.self)
        let skip = try read(UInt16.self)
        guard let type = FrameType(rawValue: rawType) else { throw .unknownFrameType(rawType) }
        guard flags & ~(type == .pages ? PagesFlags.known : 0) == 0 else {
            throw .nonzeroReserved(field: type == .pages ? "PAGES header flags other than bits 0 and 1" : "header flags byte")
        }
        guard skip == 0 || (type == .pages && flags & PagesFlags.continues != 0) else {
            throw .nonzeroReserved(field: "header skip field of a frame that does not continue")
        }
        guard bodyLength <= limits.maxBodyLength else {
            throw .oversizedFrame(length: bodyLength, limit: limits.maxBodyLength)
        }
        setFrameLength(Wire.headerLength + bodyLength)

        if type.needsGeometry && geometry == nil { throw .frameBeforeHandshake(type: rawType) }
        if let fixed = type.fixedBodyLength, bodyLength != fixed {
            throw .bodyLengthMismatch(type: rawType, expected: fixed, actual: bodyLength)
        }
        guard bodyLength >= type.minimumBodyLength else {
            throw .bodyTooShort(type: rawType, minimum: type.minimumBodyLength, actual: bodyLength)
        }
        try prefetch(type.minimumBodyLength)

        switch type {
        case .join: return .join(try decodeJoin())
        case .hello: return .hello(try decodeHello())
        case .ready: return .ready
        case .bitmap: return try decodeBitmap(bodyLength: bodyLength)
        case .resume: return try decodeResume(bodyLength: bodyLength)
        case .pages: return try decodePages(bodyLength: bodyLength, flags: flags, skip: skip, geometry: geometry!)
        case .zero, .discard: return try decodePageRange(type, geometry: geometry!)
        case .request: return try decodeRequest(bodyLength: bodyLength, geometry: geometry!, limits: limits)
        case .complete: return try decodeComplete(geometry: geometry)
        case .done: return .done
        case .error: return try decodeError(bodyLength: bodyLength)
        }
    }

    // MARK: Bodies, in protocol order

    private mutating func decodeMagicAndVersion() throws(WireError) {
        let magic = try read(UInt32.self)
        guard magic == Wire.magic else { throw .badMagic(magic) }
        let version = try read(UInt16.self)
        guard version == Wire.version else { throw .unsupportedVersion(version) }
    }

    private mutating func decodeJoin() throws(WireError) -> Join {
        try decodeMagicAndVersion()
        let rawLane = try read(UInt8.self)
        guard let lane = Lane(rawValue: rawLane) else { throw .unknownLane(rawLane) }
        guard try read(UInt8.self) == 0 else { throw .nonzeroReserved(field: "JOIN reserved byte") }
        return Join(lane: lane, session: try read(UInt64.self))
    }

    private mutating func decodeHello() throws(WireError) -> Hello {
        try decodeMagicAndVersion()
        guard try read(UInt16.self) == 0 else { throw .nonzeroReserved(field: "HELLO reserved field after version") }
        let pageSize = Int(try read(UInt32.self))
        guard try read(UInt32.self) == 0 else { throw .nonzeroReserved(field: "HELLO reserved field after pageSize") }
        let regionLength = try read(UInt64.self)
        let features = Features(rawValue: try read(UInt64.self))
        let session = try read(UInt64.self)
        let geometry = try Geometry(pageSize: pageSize, regionLength: regionLength)
        guard Features.known.isSuperset(of: features) else {
            throw .unknownFeatures(features.subtracting(.known).rawValue)
        }
        return Hello(geometry: geometry, features: features, session: session)
    }

    private mutating func decodeBitmap(bodyLength: Int) throws(WireError) -> Frame {
        let kind = try read(UInt8.self)
        guard kind == Wire.skipBitmapKind else { throw .bitmapKindUnknown(kind) }
        // The 7 reserved bytes: a u8, a u16 and a u32.
        guard try read(UInt8.self) == 0, try read(UInt16.self) == 0, try read(UInt32.self) == 0 else {
            throw .nonzeroReserved(field: "BITMAP reserved bytes")
        }
        let encodedLength = bodyLength - FrameType.bitmap.minimumBodyLength
        guard encodedLength > 0 else { throw .emptyBitmap }
        return .bitmap(kind: kind, encoded: try readBytes(encodedLength))
    }

    private mutating func decodeResume(bodyLength: Int) throws(WireError) -> Frame {
        let flags = try read(UInt8.self)
        guard flags & ~1 == 0 else { throw .nonzeroReserved(field: "RESUME flags") }
        guard try read(UInt8.self) == 0, try read(UInt16.self) == 0, try read(UInt32.self) == 0 else {
            throw .nonzeroReserved(field: "RESUME reserved bytes")
        }
        let encodedLength = bodyLength - FrameType.resume.minimumBodyLength
        guard encodedLength > 0 else { throw .emptyBitmap }
        return .resume(hasSkipBitmap: flags & 1 != 0, held: try readBytes(encodedLength))
    }

    private mutating func decodePages(
        bodyLength: Int, flags: UInt8, skip: UInt16, geometry: Geometry
    ) throws(WireError) -> Frame {
        let continues = flags & PagesFlags.continues != 0
        let fields = continues ? 0 : Wire.pageIndexLength
        guard bodyLength >= fields else {
            throw .bodyTooShort(type: FrameType.pages.rawValue, minimum: fields, actual: bodyLength)
        }
        let dataLength = bodyLength - fields
        guard dataLength > 0 else { throw .zeroCount }
        guard dataLength % geometry.pageSize == 0 else {
            throw .bodyNotWholeUnits(type: FrameType.pages.rawValue, fixed: fields, unit: geometry.pageSize,
                                     actual: bodyLength)
        }
        let count = dataLength / geometry.pageSize
        let offset: Int
        if continues {
            guard let end = pagesEnd else { throw .continuationWithoutPrevious }
            // end <= pageCount < 2^32 and skip < 2^16: the sum fits a u64 offset.
            offset = try geometry.checkRange(offset: UInt64(end + Int(skip)) * UInt64(geometry.pageSize), count: count)
        } else {
            offset = try geometry.checkRange(page: try read(UInt32.self), count: count)
        }
        pagesEnd = offset / geometry.pageSize + count
        return try readPages(offset: offset, count: count, isReply: flags & PagesFlags.reply != 0, geometry: geometry)
    }

    /// ZERO and DISCARD: a range of whole pages inside the region.
    private mutating func decodePageRange(_ type: FrameType, geometry: Geometry) throws(WireError) -> Frame {
        let page = try read(UInt32.self)
        let count = Int(try read(UInt32.self))
        let offset = try geometry.checkRange(page: page, count: count)
        return type == .zero ? .zero(offset: offset, count: count) : .discard(offset: offset, count: count)
    }

    private mutating func decodeRequest(
        bodyLength: Int, geometry: Geometry, limits: FrameLimits
    ) throws(WireError) -> Frame {
        guard bodyLength > 0 else { throw .zeroCount }
        guard bodyLength % Wire.pageIndexLength == 0 else {
            throw .bodyNotWholeUnits(type: FrameType.request.rawValue, fixed: 0, unit: Wire.pageIndexLength,
                                     actual: bodyLength)
        }
        let count = bodyLength / Wire.pageIndexLength
        guard count <= limits.maxRequestCount else {
            throw .tooManyOffsets(count: count, limit: limits.maxRequestCount)
        }
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        for _ in 0..<count {
            offsets.append(try geometry.checkRange(page: try read(UInt32.self), count: 1))
        }
        return .request(offsets: offsets)
    }

    private mutating func decodeComplete(geometry: Geometry?) throws(WireError) -> Frame {
        let pagesHeld = try read(UInt64.self)
        // Without a geometry (a COMPLETE before HELLO) bound it by the
        // most pages any geometry allows, so it always fits an Int.
        let pageCount = geometry?.pageCount ?? Geometry.maxPageCount
        guard pagesHeld <= UInt64(pageCount) else { throw .pagesHeldOutOfRange(pagesHeld: pagesHeld, pageCount: pageCount) }
        return .complete(pagesHeld: Int(pagesHeld))
    }

    private mutating func decodeError(bodyLength: Int) throws(WireError) -> Frame {
        let reasonLength = bodyLength - FrameType.error.minimumBodyLength
        guard reasonLength <= Wire.maxReasonLength else { throw .reasonTooLong(reasonLength) }
        let code = try read(UInt32.self)
        guard let reason = String(validating: try readBytes(reasonLength), as: UTF8.self) else { throw .invalidUTF8 }
        return .error(code: code, reason: reason)
    }
}

/// Bits of a PAGES frame's header flags.
enum PagesFlags {
    /// The frame answers a REQUEST.
    static let reply: UInt8 = 1 << 0
    /// The frame names no first page: it continues the previous PAGES frame
    /// of its connection, `skip` pages after it.
    static let continues: UInt8 = 1 << 1
    /// Every bit a PAGES frame may set.
    static let known = reply | continues
}
