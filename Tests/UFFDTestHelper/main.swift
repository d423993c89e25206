// A separate process for UFFDCore tests that cannot run inside the test
// process: one must die of SIGBUS, one must drop root, one must fork.
//
//   UFFDTestHelper poison        touch a poisoned page (expected: death by SIGBUS)
//   UFFDTestHelper unprivileged  open a userfaultfd in each access mode as nobody
//   UFFDTestHelper fork          fork under a monitor (the test process) that
//                                holds this process's EVENT_FORK userfaultfd;
//                                descriptor 3 is a Unix socket to the monitor
#if canImport(Glibc)
import Glibc
#endif
import CTestSupport
import UFFDCore

func say(_ line: String) {
    print(line)
    fflush(nil)  // all streams: the parent reads the pipe before this process dies
}

func poisonAndTouch() throws {
    let uffd = try Userfaultfd(features: [.poison])
    let region = try MemoryMapping(anonymousLength: 4 * SystemPage.size)
    try uffd.register(region.range, mode: .missing)
    let outcome = try uffd.poison(region.range.pages(1, count: 1))
    say("poisoned \(outcome)")
    let value = region.page(1).load(as: UInt8.self)
    say("survived a read of a poisoned page: \(value)")
}

func openAsNobody() {
    // nobody/nogroup; drop supplementary groups first, then gid, then uid.
    guard setgroups(0, nil) == 0, setgid(65534) == 0, setuid(65534) == 0 else {
        say("setuid failed: errno \(errno)")
        exit(2)
    }
    let modes: [(String, Userfaultfd.Access)] = [
        ("allFaults", .allFaults), ("userFaultsOnly", .userFaultsOnly),
        ("allFaultsIfPermitted", .allFaultsIfPermitted),
    ]
    for (name, access) in modes {
        do {
            let uffd = try Userfaultfd(access: access)
            say("\(name): opened handlesKernelFaults=\(uffd.handlesKernelFaults)")
        } catch {
            say("\(name): error \(error)")
        }
    }
}

/// Hands a userfaultfd with EVENT_FORK over a 2-page region to the monitor,
/// then forks. fork() returns only once the monitor has read the FORK event,
/// and the child's read of the region faults on the child's own userfaultfd,
/// which came with that event. The child sends the byte it read to the
/// monitor. The monitor must be another process: glibc holds the
/// allocator's locks across fork(), so a monitor thread in this process
/// that allocates before its read() would never read.
func forkUnderMonitor() throws {
    let monitor: Int32 = 3
    let uffd = try Userfaultfd(features: [.eventFork])
    let region = try MemoryMapping(anonymousLength: 2 * SystemPage.size)
    try uffd.register(region.range, mode: .missing)
    var address = UInt64(region.range.start)
    guard ct_send_descriptor(monitor, uffd.descriptor.rawValue, &address, 8) == 0 else {
        say("sendmsg: errno \(errno)")
        exit(1)
    }
    let pid = fork()
    if pid == 0 {
        // The child: only async-signal-safe calls.
        var byte = UnsafeRawPointer(bitPattern: UInt(address))!.load(as: UInt8.self)
        _exit(write(monitor, &byte, 1) == 1 ? 0 : 1)
    }
    guard pid > 0 else {
        say("fork: errno \(errno)")
        exit(1)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    say("child wait status \(status)")
    // Alive, and the region mapped, until the monitor has looked at it.
    withExtendedLifetime((uffd, region)) {
        var done: UInt8 = 0
        _ = read(monitor, &done, 1)
    }
}

switch CommandLine.arguments.dropFirst().first {
case "poison":
    do { try poisonAndTouch() } catch { say("error \(error)") }
    exit(0)
case "fork":
    do { try forkUnderMonitor() } catch { say("error \(error)") }
    exit(0)
case "unprivileged":
    openAsNobody()
    exit(0)
default:
    say("usage: UFFDTestHelper poison|unprivileged|fork")
    exit(64)
}
