#if canImport(Glibc)
import Glibc
#endif
import CUserfaultfd
import SystemPackage

/// A userfaultfd: a file descriptor through which this process resolves page
/// faults on the ranges registered with it.
///
/// Opening one performs the `UFFDIO_API` handshake, so every instance is ready
/// to register ranges. The descriptor is closed when the instance goes away.
/// All operations are thread-safe (they are ioctls on one descriptor), so the
/// type is `Sendable`: a fault-handling thread and page receivers share it.
public final class Userfaultfd: Sendable {
    /// Which faults the descriptor may handle, and so which privileges it needs.
    public enum Access: Sendable {
        /// Faults from user space and from the kernel (a `read(2)` into the
        /// region waits for the page too). Needs privilege when
        /// `vm.unprivileged_userfaultfd` is 0.
        case allFaults
        /// Faults from user space only (`UFFD_USER_MODE_ONLY`): any user may
        /// open it, but a syscall that touches a missing page fails with EFAULT.
        case userFaultsOnly
        /// `allFaults` when permitted, else `userFaultsOnly`.
        case allFaultsIfPermitted
    }

    /// The descriptor. Valid for the instance's lifetime.
    public let descriptor: FileDescriptor
    /// The features negotiated for this descriptor.
    public let features: UFFDFeatures
    /// The ioctls the kernel supports on this descriptor.
    public let ioctls: UFFDIoctls
    /// Whether faults raised inside the kernel are handled (not `UFFD_USER_MODE_ONLY`).
    public let handlesKernelFaults: Bool
    /// Whether `read` returns at once when no event is pending.
    public let isNonBlocking: Bool

    /// Opens a userfaultfd and negotiates `features` with `UFFDIO_API`.
    ///
    /// Tries `userfaultfd(2)`, then `/dev/userfaultfd` (`USERFAULTFD_IOC_NEW`),
    /// each as `access` allows. Features the kernel lacks are refused before
    /// the handshake with `.unsupportedFeatures`, naming them.
    ///
    /// - Parameters:
    ///   - features: Features to enable; each must be offered by the kernel.
    ///   - access: Which faults to handle; see `Access`.
    ///   - nonBlocking: Open with `O_NONBLOCK`, so `readEvents` never blocks
    ///     (wait with `waitForEvents` instead). A blocking descriptor saves the
    ///     poll per event; a non-blocking one can be stopped.
    public init(features: UFFDFeatures = [], access: Access = .allFaults, nonBlocking: Bool = true) throws(UFFDError) {
        let offered = try Self.kernelFeatures(access: access)
        let missing = features.subtracting(offered.features)
        guard missing.isEmpty else { throw UFFDError(.api, .unsupportedFeatures(missing)) }

        let (fd, kernelFaults) = try Self.openDescriptor(access: access, nonBlocking: nonBlocking)
        var api = uffdio_api(api: UInt64(UFFD_API), features: features.rawValue, ioctls: 0)
        if case .failure(let error) = Syscall.onUserfaultfd(.api, { cuffd_ioctl(fd.rawValue, CUFFD_IOC_API, &api) }) {
            try? fd.close()
            throw error
        }
        self.descriptor = fd
        // WP_ASYNC implies WP_UNPOPULATED in the kernel; record what is in force.
        self.features = features.contains(.wpAsync) ? features.union(.wpUnpopulated) : features
        self.ioctls = UFFDIoctls(rawValue: api.ioctls)
        self.handlesKernelFaults = kernelFaults
        self.isNonBlocking = nonBlocking
    }

    /// Takes ownership of a userfaultfd the kernel created for us: the child's
    /// descriptor of a fork event, which inherits its parent's features.
    init(adopting fd: FileDescriptor, features: UFFDFeatures, ioctls: UFFDIoctls, handlesKernelFaults: Bool) {
        self.descriptor = fd
        self.features = features
        self.ioctls = ioctls
        self.handlesKernelFaults = handlesKernelFaults
        // The kernel creates the child's descriptor O_RDWR (blocking) with the
        // parent's O_CLOEXEC/O_NONBLOCK flags; read them back instead of guessing.
        let flags = fcntl(fd.rawValue, F_GETFL)
        self.isNonBlocking = flags >= 0 && flags & O_NONBLOCK != 0
    }

    deinit {
        try? descriptor.close()
    }

    /// What the running kernel offers: features and ioctls from `UFFDIO_API`.
    public struct KernelOffer: Sendable, Equatable {
        public var features: UFFDFeatures
        public var ioctls: UFFDIoctls
    }

    /// The features and ioctls the kernel offers to a descriptor opened with `access`.
    ///
    /// `UFFDIO_API` may be called once per descriptor and fails outright for
    /// an unknown feature, so the offer is read from a short-lived probe
    /// descriptor (opened with no features) and cached.
    public static func kernelFeatures(access: Access = .allFaults) throws(UFFDError) -> KernelOffer {
        let cached: Result<KernelOffer, UFFDError> =
            switch access {
            case .allFaults: probeAllFaults
            case .userFaultsOnly: probeUserFaultsOnly
            case .allFaultsIfPermitted: probeAllFaults.flatMapError { _ in probeUserFaultsOnly }
            }
        return try cached.get()
    }

    private static let probeAllFaults = probe(.allFaults)
    private static let probeUserFaultsOnly = probe(.userFaultsOnly)

    private static func probe(_ access: Access) -> Result<KernelOffer, UFFDError> {
        Result { () throws(UFFDError) -> KernelOffer in
            let (fd, _) = try openDescriptor(access: access, nonBlocking: true)
            defer { try? fd.close() }
            var api = uffdio_api(api: UInt64(UFFD_API), features: 0, ioctls: 0)
            _ = try Syscall.onUserfaultfd(.api, { cuffd_ioctl(fd.rawValue, CUFFD_IOC_API, &api) }).get()
            var features = UFFDFeatures(rawValue: api.features)
            // EVENT_FORK is offered to everyone but granted only with CAP_SYS_PTRACE.
            if !hasPtraceCapability() { features.remove(.eventFork) }
            return KernelOffer(features: features, ioctls: UFFDIoctls(rawValue: api.ioctls))
        }
    }

    /// Opens a descriptor without the handshake; returns it and whether it
    /// handles kernel faults.
    private static func openDescriptor(access: Access, nonBlocking: Bool) throws(UFFDError) -> (FileDescriptor, Bool) {
        var attempts: [UFFDError.OpenAttempt] = []
        let modes: [Bool] =
            switch access {
            case .allFaults: [false]
            case .userFaultsOnly: [true]
            case .allFaultsIfPermitted: [false, true]
            }
        for userModeOnly in modes {
            var flags = O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)
            if userModeOnly { flags |= UFFD_USER_MODE_ONLY }

            switch Syscall.retryingInterrupts({ cuffd_userfaultfd(flags) }) {
            case .success(let fd): return (FileDescriptor(rawValue: fd), !userModeOnly)
            case .failure(let errno):
                attempts.append(.init(method: "userfaultfd(2)", userModeOnly: userModeOnly, errno: errno))
            }
            switch openThroughDevice(flags: flags) {
            case .success(let fd): return (fd, !userModeOnly)
            case .failure(let errno):
                attempts.append(.init(method: "/dev/userfaultfd", userModeOnly: userModeOnly, errno: errno))
            }
        }
        throw UFFDError(.open, .unavailable(attempts))
    }

    /// `open("/dev/userfaultfd")` and `ioctl(USERFAULTFD_IOC_NEW, flags)`:
    /// the route that access to the device node, not a capability, permits.
    private static func openThroughDevice(flags: Int32) -> Result<FileDescriptor, Errno> {
        let device: FileDescriptor
        do {
            device = try FileDescriptor.open("/dev/userfaultfd", .readWrite, options: .closeOnExec, retryOnInterrupt: true)
        } catch {
            return .failure(error as? Errno ?? .ioError)
        }
        defer { try? device.close() }
        return Syscall.retryingInterrupts { cuffd_ioctl_int(device.rawValue, CUFFD_DEV_IOC_NEW, UInt(flags)) }
            .map { FileDescriptor(rawValue: $0) }
    }

    /// Whether this thread has CAP_SYS_PTRACE in its effective set, read from
    /// /proc/self/status (no libcap dependency for one bit).
    private static func hasPtraceCapability() -> Bool {
        guard let status = try? readSmallFile("/proc/self/status") else { return false }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            guard let mask = UInt64(hex, radix: 16) else { return false }
            return mask & (1 << 19) != 0  // CAP_SYS_PTRACE = 19
        }
        return false
    }
}

/// Reads a small text file (a /proc entry) whole.
func readSmallFile(_ path: FilePath) throws -> String {
    let fd = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
    defer { try? fd.close() }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
        if count == 0 { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
