#if canImport(Glibc)
import Glibc
#endif
import Bitmaps
import CTestSupport
import PostcopyDest
import PostcopySource
import PostcopyWire
import SystemCalls
import Testing
import UFFDCore

/// A region of this process filled for a test: page i holds its index and a
/// pattern, except the pages listed as free (garbage), untouched or zero.
final class TestRegion: @unchecked Sendable {
    // @unchecked: the memory is written in init, then only read.
    let mapping: MemoryMapping
    let pages: Int
    let free: [Range<Int>]
    let untouched: Set<Int>
    let zero: Set<Int>

    init(pages: Int, free: [Range<Int>] = [], untouched: Set<Int> = [], zero: Set<Int> = []) throws {
        mapping = try MemoryMapping(anonymousLength: pages * SystemPage.size)
        self.pages = pages
        self.free = free
        self.untouched = untouched
        self.zero = zero
        for page in 0..<pages where !untouched.contains(page) {
            let pointer = mapping.page(page)
            if zero.contains(page) {
                pointer.initializeMemory(as: UInt8.self, repeating: 0, count: SystemPage.size)
            } else if isFree(page) {
                pointer.initializeMemory(as: UInt8.self, repeating: 0xEE, count: SystemPage.size)
            } else {
                for word in 0..<(SystemPage.size / 8) {
                    pointer.storeBytes(of: UInt64(page) << 32 | UInt64(word), toByteOffset: word * 8, as: UInt64.self)
                }
            }
        }
    }

    func isFree(_ page: Int) -> Bool { free.contains { $0.contains(page) } }

    /// Byte ranges of the free pages.
    var freeByteRanges: [Range<Int>] { free.map { ($0.lowerBound * SystemPage.size)..<($0.upperBound * SystemPage.size) } }

    /// Whether page `index` of `region` holds what the destination must hold.
    func matches(_ region: MemoryRange, page index: Int) -> Bool {
        let actual = UnsafeRawPointer(bitPattern: region.start + UInt(index * SystemPage.size))!
        if isFree(index) || zero.contains(index) || untouched.contains(index) {
            return UnsafeRawBufferPointer(start: actual, count: SystemPage.size).allSatisfy { $0 == 0 }
        }
        return memcmp(actual, mapping.page(index), SystemPage.size) == 0
    }
}

/// A source serving in a thread of this process.
final class ServingSource: Sendable {
    let endpoint: Endpoint
    private let thread: DedicatedThread
    private let box: Box

    private final class Box: Sendable {
        let outcome = LockedValue<Result<SourceReport, any Error>?>(nil)
    }

    init(_ region: TestRegion, endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 0),
         configuration: PostcopySource.Configuration = .init()) throws {
        var configuration = configuration
        configuration.acceptTimeout = .seconds(30)
        let source = try PostcopySource(region: SourceRegion(memory: region.mapping.base, length: region.mapping.length),
                                        free: region.freeByteRanges, configuration: configuration)
        let listener = try Listener(endpoint: endpoint)
        self.endpoint = listener.endpoint
        let box = Box()
        self.box = box
        thread = DedicatedThread(name: "test source") {
            let result = Result { try source.serve(on: listener) }
            box.outcome.withLock { $0 = result }
        }
    }

    /// Whether `serve` has returned.
    var hasFinished: Bool { box.outcome.withLock { $0 != nil } }

    /// Waits for `serve` to return.
    func finish() throws -> SourceReport {
        thread.join()
        return try box.outcome.withLock { $0! }.get()
    }
}

/// Threads that touch pages of a region, each reading the first word.
func touchPages(_ region: MemoryRange, _ pages: [[Int]]) {
    let threads = pages.map { list in
        DedicatedThread(name: "toucher") {
            for page in list {
                _ = UnsafeRawPointer(bitPattern: region.start + UInt(page * SystemPage.size))!.load(as: UInt64.self)
            }
        }
    }
    threads.forEach { $0.join() }
}

/// The `postcopy` executable SwiftPM built beside the test bundle.
func postcopyExecutable() -> String { siblingExecutable("postcopy") }

/// An executable SwiftPM built beside the test bundle (`postcopy`, `CuttingProxy`).
func siblingExecutable(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    let bundle = String(decoding: buffer[..<max(count, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(bundle[..<(bundle.lastIndex(of: "/") ?? bundle.endIndex)]) + "/" + name
}

/// Runs the `postcopy` executable built beside the test bundle; returns its
/// exit status and standard output (with standard error, if
/// `withStandardError`).
func runPostcopy(_ arguments: [String], timeout: Int32 = 240,
                 withStandardError: Bool = false) throws -> (status: Int32, output: String) {
    let executable = postcopyExecutable()
    var pipeEnds: [Int32] = [0, 0]
    // Close-on-exec: a process spawned meanwhile by another test must not
    // hold this pipe open.
    precondition(ct_pipe_cloexec(&pipeEnds) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
    if withStandardError { posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2) }
    posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, Glibc.environ)
    close(pipeEnds[1])
    guard spawned == 0 else {
        close(pipeEnds[0])
        return (-1, "posix_spawn \(executable): \(spawned)")
    }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var entry = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
    while true {
        if poll(&entry, 1, timeout * 1000) == 0 {
            kill(pid, SIGKILL)
            Issue.record("postcopy \(arguments) did not finish in \(timeout) s")
            break
        }
        let got = read(pipeEnds[0], &chunk, chunk.count)
        if got < 0 && errno == EINTR { continue }
        if got <= 0 { break }
        output += chunk[..<got]
    }
    close(pipeEnds[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: output, as: UTF8.self))
}
