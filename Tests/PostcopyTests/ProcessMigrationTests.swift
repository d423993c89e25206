import Foundation
import Testing
import Watchdog

@Suite("Migrating between two processes (the postcopy executable)", .watchdog)
struct ProcessMigrationTests {
    @Test("a mixed 64 MiB region migrates between two processes; every page verified", arguments: ["tcp", "unix"])
    func demo(transport: String) throws {
        let run = try runPostcopy(["demo", "--size", "64M", "--transport", transport, "--threads", "4", "--json"])
        #expect(run.status == 0, "\(run.output)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let source = try #require(summary["source"] as? [String: Any])
        let destination = try #require(summary["destination"] as? [String: Any])
        let pages = try #require(source["pageCount"] as? Int)
        #expect(pages == 16384)
        #expect(summary["pagesDiffering"] as? Int == 0)
        #expect(summary["pagesVerified"] as? Int == pages)
        // Every class is present and none of the skipped pages travelled.
        let free = try #require(source["freePages"] as? Int), zero = try #require(source["zeroPages"] as? Int)
        let untouched = try #require(source["neverPopulatedPages"] as? Int), data = try #require(source["dataPages"] as? Int)
        #expect(free > 0 && zero > 0 && untouched > 0 && data > 0)
        #expect(free + zero + untouched + data == pages)
        let requested = try #require(destination["pagesRequested"] as? Int)
        let streamed = try #require(destination["pagesStreamed"] as? Int)
        let replies = try #require(destination["pagesReceivedAsReply"] as? Int)
        let duplicates = try #require(destination["duplicatePages"] as? Int)
        #expect(streamed + replies - duplicates <= data)
        #expect(try #require(destination["bytesReceived"] as? Int) == (streamed + replies) * 4096)
        #expect(requested <= data + (try #require(destination["zeroReplies"] as? Int)))
        // Resident memory beyond the region's pages: the runtime, buffers and
        // bookkeeping of each process, a few MiB (the workload's writes to
        // zero-mapped pages add up to 4 KiB each at the destination).
        for side in ["sourceResidentBeyondRegion", "destinationResidentBeyondRegion"] {
            let bytes = try #require(summary[side] as? Int)
            #expect(bytes > 0 && bytes < 64 << 20, "\(side): \(bytes)")
        }
    }

    @Test("--help explains the subcommands")
    func help() throws {
        let run = try runPostcopy(["--help"])
        #expect(run.status == 0)
        for word in ["source", "dest", "demo", "userfaultfd"] { #expect(run.output.contains(word), "\(word)") }
        #expect(!run.output.contains("demo-source"))
    }
}
