// A proxy that forwards stream connections between a destination and its
// source and cuts all of them at random points: the hostile network of the
// recovery tests.
//
//   CuttingProxy --listen /path/proxy.sock --to /path/source.sock \
//                --cuts N --within BYTES --seed S --report /path/cuts
//
// Draws N cut points uniformly in (0, BYTES) of the bytes forwarded (both
// directions, all connections together). Each time the total crosses the
// next one, every open connection is shut down on both sides (the data in
// flight is lost, as when a link drops) and the cut count is written to the
// report file. New connections are accepted and forwarded until killed.
// Unix sockets only: the test runs both ends on one machine.
#if canImport(Glibc)
import Glibc
#endif
import SeededRandom
import Synchronization
import SystemCalls
import UFFDCore

struct Options {
    var listen = ""
    var target = ""
    var cuts = 3
    var within = 1 << 26
    var seed: UInt64 = 1
    var report = ""

    init(_ arguments: [String]) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            let value = iterator.next() ?? ""
            switch argument {
            case "--listen": listen = value
            case "--to": target = value
            case "--cuts": cuts = Int(value) ?? cuts
            case "--within": within = Int(value) ?? within
            case "--seed": seed = UInt64(value) ?? seed
            case "--report": report = value
            default: fail("unknown argument \(argument)")
            }
        }
        if listen.isEmpty || target.isEmpty || report.isEmpty { fail("--listen, --to and --report are required") }
    }
}

func fail(_ message: String) -> Never {
    let text = Array("CuttingProxy: \(message) (errno \(errno))\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func unixAddress(_ path: String) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        let bytes = Array(path.utf8)
        precondition(bytes.count < raw.count, "socket path too long: \(path)")
        raw.copyBytes(from: bytes)
    }
    return address
}

func withSockaddr<T>(_ address: inout sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// The open connections and the cut schedule.
final class Cutter: Sendable {
    private struct State {
        var open: [Int: (client: Int32, upstream: Int32)] = [:]
        var nextID = 0
        var cutsDone = 0
    }
    private let state = LockedValue(State())
    private let forwarded = Atomic<Int>(0)
    private let cutPoints: [Int]
    private let report: String

    init(cutPoints: [Int], report: String) {
        self.cutPoints = cutPoints
        self.report = report
        writeReport(0)
    }

    func add(client: Int32, upstream: Int32) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.open[id] = (client, upstream)
            return id
        }
    }

    /// Closes a connection pair once both its pumps are done with it.
    func remove(_ id: Int) {
        state.withLock { state in
            guard let pair = state.open.removeValue(forKey: id) else { return }
            close(pair.client)
            close(pair.upstream)
        }
    }

    /// Counts `bytes` forwarded; cuts every connection when a cut point is crossed.
    func forwarded(_ bytes: Int) {
        let total = forwarded.add(bytes, ordering: .relaxed).newValue
        state.withLock { state in
            guard state.cutsDone < cutPoints.count, total >= cutPoints[state.cutsDone] else { return }
            while state.cutsDone < cutPoints.count && total >= cutPoints[state.cutsDone] { state.cutsDone += 1 }
            for pair in state.open.values {
                shutdown(pair.client, Int32(SHUT_RDWR))
                shutdown(pair.upstream, Int32(SHUT_RDWR))
            }
            writeReport(state.cutsDone)
        }
    }

    private func writeReport(_ cuts: Int) {
        let fd = open(report + ".tmp", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { fail("open \(report)") }
        let text = Array("\(cuts)\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        rename(report + ".tmp", report)
    }
}

/// How many of a connection's two pumps have ended.
final class PumpCount: Sendable {
    let finished = Atomic<Int>(0)
}

/// Copies `from` to `to` until either ends, counting the bytes.
func pump(from: Int32, to: Int32, cutter: Cutter) {
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        var sent = 0
        while sent < count {
            let written = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { break }
            sent += written
        }
        guard sent == count else { break }
        cutter.forwarded(count)
    }
    // One direction ended: end the other too.
    shutdown(from, Int32(SHUT_RDWR))
    shutdown(to, Int32(SHUT_RDWR))
}

// The test process may have blocked signals, and a spawned child inherits
// its mask: unblock them so the test can end this process.
var everything = sigset_t()
sigemptyset(&everything)
sigprocmask(SIG_SETMASK, &everything, nil)
signal(SIGPIPE, SIG_IGN)
let options = Options(Array(CommandLine.arguments.dropFirst()))
var random = SplitMix64(seed: options.seed)  // the cut points depend on the seed only
let cutPoints = (0..<options.cuts).map { _ in Int.random(in: 1..<max(2, options.within), using: &random) }.sorted()
let cutter = Cutter(cutPoints: cutPoints, report: options.report)

unlink(options.listen)
let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
guard listener >= 0 else { fail("socket") }
var listenAddress = unixAddress(options.listen)
guard withSockaddr(&listenAddress, { bind(listener, $0, $1) }) == 0 else { fail("bind \(options.listen)") }
guard Glibc.listen(listener, 64) == 0 else { fail("listen") }

while true {
    let client = accept(listener, nil, nil)
    if client < 0 {
        if errno == EINTR || errno == ECONNABORTED { continue }
        fail("accept")
    }
    let upstream = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var targetAddress = unixAddress(options.target)
    guard upstream >= 0, withSockaddr(&targetAddress, { connect(upstream, $0, $1) }) == 0 else {
        // The source is not there (any more): the destination sees a refusal-like close.
        if upstream >= 0 { close(upstream) }
        close(client)
        continue
    }
    let id = cutter.add(client: client, upstream: upstream)
    let pumps = PumpCount()
    for (from, to) in [(client, upstream), (upstream, client)] {
        // Never joined: each pump ends when its connection is cut or closed,
        // and the proxy runs until it is killed.
        _ = DedicatedThread(name: "pump") {
            pump(from: from, to: to, cutter: cutter)
            if pumps.finished.add(1, ordering: .relaxed).newValue == 2 { cutter.remove(id) }
        }
    }
}
