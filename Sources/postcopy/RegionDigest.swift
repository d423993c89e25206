import UFFDCore

/// A 64-bit digest of every page of a region, to verify a migration page by page.
enum RegionDigest {
    /// The digest of one page: a multiply-xor hash over its 64-bit words.
    /// Not cryptographic; it only has to tell a wrong page from the right one.
    @inline(__always)
    static func page(_ pointer: UnsafeRawPointer) -> UInt64 {
        let words = SystemPage.size / 8
        var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
        var index = 0
        while index < words {
            let x = pointer.load(fromByteOffset: index * 8, as: UInt64.self)
            let y = pointer.load(fromByteOffset: index * 8 + 8, as: UInt64.self)
            a = (a ^ x) &* 0x9E37_79B9_7F4A_7C15
            b = (b ^ y) &* 0xC2B2_AE3D_27D4_EB4F
            index += 2
        }
        return a ^ (b >> 29) ^ (b << 35)
    }

    /// The digest of an all-zero page.
    static let zeroPage: UInt64 = {
        let page = UnsafeMutableRawPointer.allocate(byteCount: SystemPage.size, alignment: SystemPage.size)
        defer { page.deallocate() }
        page.initializeMemory(as: UInt8.self, repeating: 0, count: SystemPage.size)
        return RegionDigest.page(page)
    }()

    /// Digests of `pageCount` pages from `base`; `asZero` pages count as zero
    /// pages whatever they hold (free pages: the destination gets zeros).
    static func pages(_ base: UnsafeRawPointer, pageCount: Int, asZero: (Int) -> Bool = { _ in false }) -> [UInt64] {
        (0..<pageCount).map { index in
            asZero(index) ? zeroPage : page(base + index * SystemPage.size)
        }
    }

    /// Writes digests as little-endian 64-bit words.
    static func write(_ digests: [UInt64], to path: String) throws {
        let bytes = digests.withUnsafeBytes { Array($0) }
        try writeFile(path, bytes)
    }

    static func read(_ path: String) throws -> [UInt64] {
        let bytes = try readFile(path)
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / 8)).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) }
        }
    }
}
