#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import UFFDCore
import Watchdog

/// Two hosts on this machine: network namespaces joined by a veth pair, with
/// a token-bucket bandwidth limit (tc tbf; this kernel has no netem).
enum TestHosts {
    static let ip = "/usr/sbin/ip", tc = "/usr/sbin/tc"

    /// Runs a command; true when it exits 0.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Whether this sandbox lets a test create namespaces (root, iproute2).
    static let available: Bool = {
        let probe = "pcprobe\(getpid())"
        defer { run(ip, ["netns", "del", probe]) }
        return FileManager.default.isExecutableFile(atPath: ip) && run(ip, ["netns", "add", probe])
    }()

    /// Creates hosts `a` (10.231.0.1) and `b` (10.231.0.2) joined by a link
    /// limited to `rate`; returns their namespace names.
    static func make(rate: String) throws -> (a: String, b: String) {
        let a = "pca\(getpid())", b = "pcb\(getpid())"
        let steps: [(String, [String])] = [
            (ip, ["netns", "add", a]), (ip, ["netns", "add", b]),
            (ip, ["link", "add", "v\(a)", "type", "veth", "peer", "name", "v\(b)"]),
            (ip, ["link", "set", "v\(a)", "netns", a]), (ip, ["link", "set", "v\(b)", "netns", b]),
            (ip, ["-n", a, "addr", "add", "10.231.0.1/24", "dev", "v\(a)"]),
            (ip, ["-n", b, "addr", "add", "10.231.0.2/24", "dev", "v\(b)"]),
            (ip, ["-n", a, "link", "set", "v\(a)", "up"]), (ip, ["-n", b, "link", "set", "v\(b)", "up"]),
            (tc, ["-n", a, "qdisc", "add", "dev", "v\(a)", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "100ms"]),
            (tc, ["-n", b, "qdisc", "add", "dev", "v\(b)", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "100ms"]),
        ]
        for (executable, arguments) in steps where !run(executable, arguments) {
            remove(a, b)
            throw HostError(step: ([executable] + arguments).joined(separator: " "))
        }
        return (a, b)
    }

    static func remove(_ a: String, _ b: String) {
        run(ip, ["netns", "del", a])
        run(ip, ["netns", "del", b])
    }

    struct HostError: Error, CustomStringConvertible {
        var step: String
        var description: String { "could not set up the test hosts: \(step) failed" }
    }
}

@Suite("Across machines: two network namespaces, a veth link limited to 200 Mbit/s", .watchdog,
       .enabled(if: TestHosts.available, "needs network namespaces (root and iproute2's ip netns); none can be created here"))
struct NetworkNamespaceTests {
    @Test("postcopy source in one namespace, postcopy dest in the other: the saved region equals the image")
    func migrateAcrossNamespaces() throws {
        let (a, b) = try TestHosts.make(rate: "200mbit")
        defer { TestHosts.remove(a, b) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postcopy-netns-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 32 MiB: data, a hole, data.
        let pageSize = SystemPage.size, pages = 8192
        var image = [UInt8](repeating: 0, count: pages * pageSize)
        for page in Array(0..<3000) + Array(5000..<pages) { image[page * pageSize] = UInt8(truncatingIfNeeded: page | 1) }
        let imagePath = "\(directory)/image"
        try Data(image).write(to: URL(fileURLWithPath: imagePath))

        let source = Process()
        source.executableURL = URL(fileURLWithPath: TestHosts.ip)
        source.arguments = ["netns", "exec", a, postcopyExecutable(), "source", "--listen", "10.231.0.1:4444", "--image", imagePath,
                            "--log-level", "error"]
        source.standardOutput = FileHandle.nullDevice
        try source.run()
        let saved = "\(directory)/saved"
        let dest = Process()
        dest.executableURL = URL(fileURLWithPath: TestHosts.ip)
        dest.arguments = ["netns", "exec", b, postcopyExecutable(), "dest", "--connect", "10.231.0.1:4444", "--save", saved, "--json"]
        let output = Pipe()
        dest.standardOutput = output
        try dest.run()
        let report = output.fileHandleForReading.readDataToEndOfFile()
        dest.waitUntilExit()
        source.waitUntilExit()
        #expect(dest.terminationStatus == 0)
        #expect(source.terminationStatus == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: report) as? [String: Any])
        // The hole never crossed the link; the data did, and arrived intact.
        #expect(json["bytesReceived"] as? Int == (pages - 2000) * pageSize)
        #expect(FileManager.default.contents(atPath: saved) == Data(image))
    }
}
