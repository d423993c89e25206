import SystemPackage

/// Reads a whole file.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
    return try fd.closeAfter {
        let size = Int(try fd.seek(offset: 0, from: .end))
        _ = try fd.seek(offset: 0, from: .start)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = try bytes.withUnsafeMutableBytes { try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[done...])) }
            if count == 0 { break }
            done += count
        }
        return Array(bytes[..<done])
    }
}

/// Writes `bytes` to `path`, replacing it.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { raw in try writeFile(path, contentsOf: raw) }
}

/// Writes raw memory to `path` (the saved region), replacing it.
func writeFile(_ path: String, contentsOf bytes: UnsafeRawBufferPointer) throws {
    let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                                     permissions: [.ownerReadWrite, .groupRead, .otherRead])
    try fd.closeAfter { _ = try fd.writeAll(bytes) }
}
