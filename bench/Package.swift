// swift-tools-version:6.1
// Benchmarks for swift-postcopy, in their own package so `make test` never
// builds them. Each Swift figure is compared with a minimal C floor compiled
// and run in the same process, in the same run. The fault workloads and the C
// floors live in the main package (FaultBench, CFloor), which
// `postcopy bench-faults` shares.
import PackageDescription

let package = Package(
    name: "swift-postcopy-bench",
    dependencies: [
        .package(name: "swift-postcopy", path: ".."),
    ],
    targets: [
        // io_uring's receive side, against the plain read() loop (liburing).
        .target(name: "CURingFloor", linkerSettings: [.linkedLibrary("uring")]),
        // The demo's migration in minimal C: the floor for migration time.
        .executableTarget(
            name: "migration-floor",
            dependencies: [.product(name: "CFloor", package: "swift-postcopy")]),
        .executableTarget(
            name: "uffd-bench",
            dependencies: [
                "CURingFloor",
                .product(name: "CFloor", package: "swift-postcopy"),
                .product(name: "FaultBench", package: "swift-postcopy"),
                .product(name: "SeededRandom", package: "swift-postcopy"),
                .product(name: "UFFDCore", package: "swift-postcopy"),
                .product(name: "Bitmaps", package: "swift-postcopy"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
