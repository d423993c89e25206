// swift-tools-version:6.1
// swift-postcopy: postcopy migration of a memory region with userfaultfd.
import PackageDescription

let package = Package(
    name: "swift-postcopy",
    products: [
        .library(name: "UFFDCore", targets: ["UFFDCore"]),
        .library(name: "Bitmaps", targets: ["Bitmaps"]),
        .library(name: "PostcopyWire", targets: ["PostcopyWire"]),
        .library(name: "PostcopySource", targets: ["PostcopySource"]),
        .library(name: "PostcopyDest", targets: ["PostcopyDest"]),
        .library(name: "FaultBench", targets: ["FaultBench"]),
        .library(name: "CFloor", targets: ["CFloor"]),
        .library(name: "SeededRandom", targets: ["SeededRandom"]),
        .executable(name: "postcopy", targets: ["postcopy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
    ],
    targets: [
        // C shims: only what Swift cannot import (ioctl numbers built with _IOWR,
        // the variadic ioctl/syscall), plus uapi definitions newer than Debian's
        // 6.1 kernel headers. No logic lives here.
        .target(name: "CUserfaultfd"),
        .target(name: "CPagemap"),
        .target(name: "CThread"),
        .target(name: "CPipe"),

        // The project's system libraries (Debian: liburing-dev, libelf-dev).
        .systemLibrary(
            name: "CLibURing", pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]),
        .systemLibrary(
            name: "CLibELF", pkgConfig: "libelf",
            providers: [.apt(["libelf-dev"])]),

        // The one place EINTR is retried, shared by every module that makes
        // syscalls; and LockedValue, the lock ThreadSanitizer can see (make tsan).
        .target(
            name: "SystemCalls",
            dependencies: ["CThread", .product(name: "SystemPackage", package: "swift-system")]),

        .target(
            name: "UFFDCore",
            dependencies: [
                "CUserfaultfd", "SystemCalls",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(
            name: "Bitmaps",
            dependencies: [
                "CPagemap", "SystemCalls",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        // The migration: a framed protocol, and the two sides built on it.
        .target(
            name: "PostcopyWire",
            dependencies: ["Bitmaps", "CPipe", "SystemCalls", .product(name: "SystemPackage", package: "swift-system")]),
        .target(
            name: "PostcopySource",
            dependencies: ["PostcopyWire", "Bitmaps", "UFFDCore", "SystemCalls",
                           .product(name: "SystemPackage", package: "swift-system")]),
        .target(
            name: "PostcopyDest",
            dependencies: ["PostcopyWire", "Bitmaps", "UFFDCore", "SystemCalls",
                           .product(name: "Histogram", package: "hdrhistogram-swift")]),
        // Fault latency against minimal C floors: `postcopy bench-faults` and bench/.
        .target(name: "CFloor", cSettings: [.unsafeFlags(["-O2"])]),
        // SplitMix64, for orders and layouts that are the same in every run.
        .target(name: "SeededRandom"),
        .target(
            name: "FaultBench",
            dependencies: ["CFloor", "SeededRandom", "PostcopySource", "PostcopyDest", "PostcopyWire", "UFFDCore",
                           "SystemCalls"]),
        .executableTarget(
            name: "postcopy",
            dependencies: ["PostcopySource", "PostcopyDest", "PostcopyWire", "Bitmaps", "UFFDCore", "FaultBench", "SystemCalls",
                           .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SystemPackage", package: "swift-system")]),

        // A separate process for the tests that must die (SIGBUS from a poisoned
        // page), drop privileges (the unprivileged-open error path) or fork
        // under a monitor (EVENT_FORK).
        .executableTarget(
            name: "UFFDTestHelper",
            dependencies: ["UFFDCore", "CTestSupport"],
            path: "Tests/UFFDTestHelper"),
        .executableTarget(
            name: "CuttingProxy",
            dependencies: ["UFFDCore", "SeededRandom", "SystemCalls"],
            path: "Tests/CuttingProxy"),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        // Aborts the test process, naming the test, when a test case hangs.
        .target(name: "Watchdog", path: "Tests/Watchdog"),
        .testTarget(
            name: "UFFDCoreTests",
            dependencies: ["UFFDCore", "UFFDTestHelper", "CTestSupport", "SystemCalls", "Watchdog",
                           .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(
            name: "SystemCallsTests",
            dependencies: ["SystemCalls", "UFFDCore", "Watchdog"]),
        .testTarget(
            name: "BitmapsTests",
            dependencies: ["Bitmaps", "SeededRandom", "SystemCalls", "Watchdog", .product(name: "PropertyBased", package: "swift-property-based")]),
        .testTarget(
            name: "PostcopyWireTests",
            dependencies: ["PostcopyWire", "SeededRandom", "SystemCalls", "Watchdog"]),
        .testTarget(
            name: "PostcopyTests",
            dependencies: ["PostcopySource", "PostcopyDest", "PostcopyWire", "Bitmaps", "UFFDCore", "postcopy",
                           "CuttingProxy", "CTestSupport", "SeededRandom", "SystemCalls", "Watchdog"]),
    ],
    swiftLanguageModes: [.v6]
)
