// swift-tools-version:6.2
import PackageDescription

/// One strict setting for every target (see ../shared/STYLE.md).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Cedar", targets: ["Cedar"]),
        .executable(name: "portcullis", targets: ["portcullis"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The Cedar policy language: pure Swift, no I/O, no server dependencies.
        .target(name: "Cedar", swiftSettings: strictSettings),
        .executableTarget(
            name: "portcullis",
            dependencies: [
                "Cedar",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "CedarBenchmarks",
            dependencies: ["Cedar"],
            path: "Benchmarks/CedarBenchmarks",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "CedarTests", dependencies: ["Cedar"], swiftSettings: strictSettings),
    ]
)
