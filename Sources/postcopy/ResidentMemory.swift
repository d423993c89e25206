import Foundation

/// This process's resident anonymous memory, `RssAnon` of `/proc/self/status`, in bytes.
///
/// Pages mapped to the shared zero page (UFFDIO_ZEROPAGE, reads of untouched
/// memory) are not in it: only memory the process really holds.
func residentAnonymousBytes() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    for line in status.split(separator: "\n") where line.hasPrefix("RssAnon:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
    }
    throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: "/proc/self/status"])
}
