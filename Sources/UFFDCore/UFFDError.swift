import SystemPackage

/// An operation on a userfaultfd failed.
///
/// One error type for the whole module: it names the operation (the C call or
/// ioctl), the range it worked on where there is one, and why it failed: an
/// errno from the kernel, or a check this library made before calling it.
public struct UFFDError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done, named after the C call or ioctl.
    public enum Operation: String, Sendable {
        case open = "userfaultfd open"
        case api = "UFFDIO_API"
        case register = "UFFDIO_REGISTER"
        case unregister = "UFFDIO_UNREGISTER"
        case copy = "UFFDIO_COPY"
        case zeroPage = "UFFDIO_ZEROPAGE"
        case wake = "UFFDIO_WAKE"
        case `continue` = "UFFDIO_CONTINUE"
        case writeProtect = "UFFDIO_WRITEPROTECT"
        case move = "UFFDIO_MOVE"
        case poison = "UFFDIO_POISON"
        case read = "read(userfaultfd)"
        case poll = "poll(userfaultfd)"
        case eventfd = "eventfd"
        case mmap = "mmap"
        case munmap = "munmap"
        case discard = "madvise(MADV_DONTNEED)"
        case forkInheritance = "madvise(MADV_DONTFORK/MADV_DOFORK)"
    }

    /// Why it failed.
    public enum Reason: Sendable, Equatable {
        /// The kernel returned this errno.
        case system(Errno)
        /// The address or length is not a multiple of the page size; checked
        /// before the syscall.
        case misaligned
        /// The kernel does not offer these features (`UFFDIO_API`).
        case unsupportedFeatures(UFFDFeatures)
        /// The range does not support this ioctl (see `register`'s result).
        case unsupportedIoctl(UFFDIoctls)
        /// Every way of opening a userfaultfd failed; each attempt and its errno.
        case unavailable([OpenAttempt])
    }

    /// One way this library tried to obtain a userfaultfd, and how it failed.
    public struct OpenAttempt: Sendable, Equatable, CustomStringConvertible {
        /// `userfaultfd(2)` or `/dev/userfaultfd`.
        public var method: String
        /// Whether `UFFD_USER_MODE_ONLY` was asked for.
        public var userModeOnly: Bool
        /// What the kernel said.
        public var errno: Errno

        public var description: String {
            "\(method)\(userModeOnly ? " with UFFD_USER_MODE_ONLY" : ""): \(errno)"
        }
    }

    public var operation: Operation
    public var range: MemoryRange?
    public var reason: Reason

    public init(_ operation: Operation, range: MemoryRange? = nil, _ reason: Reason) {
        self.operation = operation
        self.range = range
        self.reason = reason
    }

    /// The errno, when the kernel refused.
    public var errno: Errno? {
        if case .system(let errno) = reason { return errno }
        return nil
    }

    public var description: String {
        var text = operation.rawValue
        if let range { text += " \(range)" }
        switch reason {
        case .system(let errno):
            text += ": \(errno) (errno \(errno.rawValue))"
        case .misaligned:
            text += ": address and length must be multiples of the page size (\(SystemPage.size) bytes)"
        case .unsupportedFeatures(let missing):
            text += ": the running kernel does not offer \(missing)"
        case .unsupportedIoctl(let missing):
            text += ": the registered range does not support \(missing)"
        case .unavailable(let attempts):
            text += " failed: " + attempts.map(\.description).joined(separator: "; ")
            text += ". " + Self.openAdvice(attempts)
        }
        return text
    }

    /// What an operator can do about a failed open, from the errnos seen.
    private static func openAdvice(_ attempts: [OpenAttempt]) -> String {
        var advice: [String] = []
        if attempts.contains(where: { $0.method == "userfaultfd(2)" && $0.errno == .notPermitted }) {
            advice.append(
                "userfaultfd(2) is restricted to privileged callers (sysctl vm.unprivileged_userfaultfd=0): "
                    + "run as root or with CAP_SYS_PTRACE, set vm.unprivileged_userfaultfd=1, "
                    + "or ask for user-mode-only handling (UFFD_USER_MODE_ONLY), "
                    + "which serves faults from user space only")
        }
        if attempts.contains(where: { $0.method == "/dev/userfaultfd" && $0.errno == .permissionDenied }) {
            advice.append("/dev/userfaultfd is not readable and writable by this user: grant access (e.g. chmod 0666 or a group)")
        }
        if attempts.contains(where: { $0.method == "/dev/userfaultfd" && $0.errno == .noSuchFileOrDirectory }) {
            advice.append("/dev/userfaultfd does not exist (Linux 6.1+ with CONFIG_USERFAULTFD)")
        }
        if attempts.contains(where: { $0.errno == .noFunction }) {
            advice.append("this kernel was built without userfaultfd (CONFIG_USERFAULTFD)")
        }
        return advice.isEmpty ? "No userfaultfd can be had on this system." : advice.joined(separator: "; ") + "."
    }
}
