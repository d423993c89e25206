import ArgumentParser

@main
struct Postcopy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postcopy",
        abstract: "Postcopy migration of a memory region with userfaultfd, skipping pages that need not travel.",
        discussion: """
            The source serves a region (an image file); the destination connects, maps an \
            empty region, registers it with userfaultfd and is running at once: a first \
            touch of a page fetches it, while the source streams the rest in the background. \
            Pages the source knows are free, never populated or all zero never travel: the \
            destination zero-fills them locally.

            Start the source first (`postcopy source --listen 0.0.0.0:4444 --image mem.img`), \
            then the destination (`postcopy dest --connect SOURCE:4444 --save copy.img`). \
            `postcopy demo` runs both on this machine with a built-in workload; \
            `postcopy bench-faults` measures fault latency against a minimal C program.

            Exit codes: 0 success, 1 migration failed, 2 verification found differing pages, \
            64 bad usage. userfaultfd needs root, CAP_SYS_PTRACE, access to /dev/userfaultfd, \
            or vm.unprivileged_userfaultfd=1.
            """,
        subcommands: [SourceCommand.self, DestCommand.self, DemoCommand.self, BenchFaultsCommand.self,
                      DemoSourceCommand.self, DemoDestCommand.self])
}

/// Exit codes that mean something to a script.
enum ExitStatus {
    static let migrationFailed = ExitCode(1)
    static let verificationFailed = ExitCode(2)
}
