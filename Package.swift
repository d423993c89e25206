// swift-tools-version:6.1
// swift-postcopy: postcopy migration of a memory region with userfaultfd.
import PackageDescription

let package = Package(
    name: "swift-postcopy",
    products: [
        .library(name: "UFFDCore", targets: ["UFFDCore"]),
        .library(name: "Bitmaps", targets: ["Bitmaps"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // C shims: only what Swift cannot import (ioctl numbers built with _IOWR,
        // the variadic ioctl/syscall), plus uapi definitions newer than Debian's
        // 6.1 kernel headers. No logic lives here.
        .target(name: "CUserfaultfd"),
        .target(name: "CPagemap"),

        // The project's system libraries (Debian: liburing-dev, libelf-dev).
        .systemLibrary(
            name: "CLibURing", pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]),
        .systemLibrary(
            name: "CLibELF", pkgConfig: "libelf",
            providers: [.apt(["libelf-dev"])]),

        .target(
            name: "UFFDCore",
            dependencies: [
                "CUserfaultfd",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(
            name: "Bitmaps",
            dependencies: [
                "CPagemap",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        // A separate process for the tests that must die (SIGBUS from a poisoned
        // page) or drop privileges (the unprivileged-open error path).
        .executableTarget(
            name: "UFFDTestHelper",
            dependencies: ["UFFDCore"],
            path: "Tests/UFFDTestHelper"),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(
            name: "UFFDCoreTests",
            dependencies: ["UFFDCore", "UFFDTestHelper", "CTestSupport"]),
        .testTarget(
            name: "BitmapsTests",
            dependencies: ["Bitmaps"]),
    ],
    swiftLanguageModes: [.v6]
)
