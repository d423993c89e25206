#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SystemCalls
import Testing
import UFFDCore
import Watchdog

@Suite("postcopy source and postcopy dest as separate processes", .watchdog)
struct CommandLineTests {
    @Test("an image with a hole and declared free ranges migrates; --save writes the source's bytes, free ranges as zeros")
    func sourceAndDestCommands() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("postcopy-cli-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pageSize = SystemPage.size, pages = 4096
        // Pages 0-1023 data, 1024-2047 a hole (never written), 2048-4095 data
        // of which 3000-3099 are declared free.
        var image = [UInt8](repeating: 0, count: pages * pageSize)
        for page in Array(0..<1024) + Array(2048..<pages) {
            for offset in stride(from: 0, to: pageSize, by: 8) { image[page * pageSize + offset] = UInt8(truncatingIfNeeded: page &+ offset / 8 | 1) }
        }
        let imagePath = "\(directory)/source.img"
        let fd = open(imagePath, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        try #require(fd >= 0)
        image.withUnsafeBytes { bytes in
            _ = pwrite(fd, bytes.baseAddress, 1024 * pageSize, 0)
            _ = pwrite(fd, bytes.baseAddress! + 2048 * pageSize, (pages - 2048) * pageSize, off_t(2048 * pageSize))
        }
        close(fd)
        let freePath = "\(directory)/free.txt"
        try "# start length\n\(3000 * pageSize) \(100 * pageSize)\n".write(toFile: freePath, atomically: true, encoding: .utf8)
        let socket = "unix:\(directory)/source.sock"

        let source = Process()
        source.executableURL = URL(fileURLWithPath: postcopyExecutable())
        source.arguments = ["source", "--listen", socket, "--image", imagePath, "--free-ranges", freePath,
                            "--bulk-buffer", "1M", "--json"]
        let sourceOutput = Pipe()
        source.standardOutput = sourceOutput
        try source.run()
        let saved = "\(directory)/saved.img"
        let dest = try runPostcopy(["dest", "--connect", socket, "--save", saved, "--bulk-buffer", "1M", "--json"])
        source.waitUntilExit()
        #expect(dest.status == 0, "\(dest.output)")
        #expect(source.terminationStatus == 0)

        let report = try #require(try JSONSerialization.jsonObject(with: sourceOutput.fileHandleForReading.readDataToEndOfFile()) as? [String: Any])
        #expect(report["freePages"] as? Int == 100)
        #expect(report["neverPopulatedPages"] as? Int == 1024)
        #expect(report["dataPages"] as? Int == pages - 1024 - 100)

        let copy = try #require(FileManager.default.contents(atPath: saved))
        #expect(copy.count == pages * pageSize)
        var expected = image
        for index in (3000 * pageSize)..<(3100 * pageSize) { expected[index] = 0 }
        #expect(copy == Data(expected))
    }

    @Test("bench-faults measures every class against its C floor and prints the table")
    func benchFaults() throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("postcopy-bench-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: postcopyExecutable())
        process.arguments = ["bench-faults", "--pages", "256", "--rounds", "1", "--transport", "unix", "--json", json]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("remote ") || $0.hasPrefix("free ") }
        #expect(rows.count == 6, "\(text)")  // remote: 2 orders x stream off/on; free: 2 orders
        // Idle, every touch of a fresh page faults, for the floor and the library alike.
        #expect(rows.filter { $0.contains(" no ") && $0.contains("256/256") }.count == 4, "\(text)")
        let rounds = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]]
        #expect(rounds?.count == 12)  // 6 workloads x (floor, library)
    }

    @Test("bench-faults --workloads stream runs only the remote faults under the stream")
    func benchFaultsUnderStreamOnly() throws {
        let run = try runPostcopy(["bench-faults", "--pages", "256", "--rounds", "1", "--transport", "unix",
                                   "--workloads", "stream"])
        #expect(run.status == 0, "\(run.output)")
        let rows = run.output.split(separator: "\n").filter { $0.hasPrefix("remote ") || $0.hasPrefix("free ") }
        #expect(rows.count == 2, "\(run.output)")  // sequential and random
        #expect(rows.allSatisfy { $0.hasPrefix("remote ") && $0.contains(" yes ") }, "\(run.output)")
    }

    @Test("bench-faults refuses an unknown workload (usage error, exit status 64)")
    func benchFaultsWorkloadsValidated() throws {
        let run = try runPostcopy(["bench-faults", "--workloads", "stream,bogus"])
        #expect(run.status == 64)
    }

    @Test("a bulk buffer below 4K is refused before anything runs (usage error, exit status 64)",
          arguments: [["dest", "--connect", "unix:/nonexistent/postcopy.sock"], ["source", "--listen", "127.0.0.1:0", "--image", "/dev/null"]])
    func bulkBufferValidated(command: [String]) throws {
        let run = try runPostcopy(command + ["--bulk-buffer", "1K"])
        #expect(run.status == 64)
    }

    @Test("--stream-cpus that is no CPU list, or names a CPU this process may not use, is refused (exit status 64) and says why",
          arguments: [(["demo", "--size", "1M"], "x"), (["demo", "--size", "1M"], "1023"),
                      (["dest", "--connect", "unix:/nonexistent/postcopy.sock"], "2-1"),
                      (["source", "--listen", "127.0.0.1:0", "--image", "/dev/null"], "1023"),
                      (["bench-faults"], "0,")])
    func streamCPUsValidated(command: [String], list: String) throws {
        let run = try runPostcopy(command + ["--stream-cpus", list], withStandardError: true)
        #expect(run.status == 64, "\(run.output)")
        #expect(run.output.contains("Error: --stream-cpus: ") && (run.output.contains("'\(list)'") || run.output.contains("CPUs \(list)")),
                "\(run.output)")
    }

    @Test("source --splice takes never, unix or always, and refuses anything else before listening")
    func spliceChoices() throws {
        let run = try runPostcopy(["source", "--listen", "127.0.0.1:0", "--image", "/dev/null", "--splice", "sometimes"],
                                  withStandardError: true)
        #expect(run.status == 64, "\(run.output)")
        #expect(run.output.contains("'never', 'unix' or 'always'"), "\(run.output)")
    }

    @Test("demo --stream-cpus migrates with both sides' stream threads on one CPU, every page equal")
    func demoWithStreamCPUs() throws {
        let cpu = try CPUSet.currentThreadAffinity().cpus.last!
        let run = try runPostcopy(["demo", "--size", "16M", "--threads", "1", "--stream-cpus", "\(cpu)", "--json"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("\"pagesDiffering\" : 0"), "\(run.output)")
    }

    @Test("a destination with no source to reach fails with exit status 1 and says why")
    func unreachableSource() throws {
        let run = try runPostcopy(["dest", "--connect", "unix:/nonexistent/postcopy.sock", "--timeout", "1"])
        #expect(run.status == 1)
    }
}
