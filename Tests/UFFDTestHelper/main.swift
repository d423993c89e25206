// A separate process for UFFDCore tests that cannot run inside the test
// process: one must die of SIGBUS, one must drop root.
//
//   UFFDTestHelper poison        touch a poisoned page (expected: death by SIGBUS)
//   UFFDTestHelper unprivileged  open a userfaultfd in each access mode as nobody
#if canImport(Glibc)
import Glibc
#endif
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

switch CommandLine.arguments.dropFirst().first {
case "poison":
    do { try poisonAndTouch() } catch { say("error \(error)") }
    exit(0)
case "unprivileged":
    openAsNobody()
    exit(0)
default:
    say("usage: UFFDTestHelper poison|unprivileged")
    exit(64)
}
