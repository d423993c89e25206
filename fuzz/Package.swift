// swift-tools-version:6.1
// libFuzzer targets for the decoders that read untrusted bytes: the wire
// frame decoder and the bitmap codec. Built with `swift build --sanitize
// fuzzer --sanitize address` (see `make fuzz`); libFuzzer supplies main().
import PackageDescription

let package = Package(
    name: "swift-postcopy-fuzz",
    dependencies: [
        .package(name: "swift-postcopy", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "fuzz-decoders",
            dependencies: [
                .product(name: "PostcopyWire", package: "swift-postcopy"),
                .product(name: "Bitmaps", package: "swift-postcopy"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
