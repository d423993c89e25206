// swift-tools-version:6.1
// Benchmarks for swift-postcopy, in their own package so `make test` never
// builds them. Each Swift figure is compared with a minimal C floor compiled
// and run in the same process, in the same run.
import PackageDescription

let package = Package(
    name: "swift-postcopy-bench",
    dependencies: [
        .package(name: "swift-postcopy", path: ".."),
    ],
    targets: [
        .target(name: "CFloor", cSettings: [.unsafeFlags(["-O2"])]),
        .executableTarget(
            name: "uffd-bench",
            dependencies: [
                "CFloor",
                .product(name: "UFFDCore", package: "swift-postcopy"),
                .product(name: "Bitmaps", package: "swift-postcopy"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
