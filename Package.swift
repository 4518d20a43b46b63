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
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter would build gRPC for nothing.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // The Cedar policy language: pure Swift, no I/O, no server dependencies.
        .target(name: "Cedar", swiftSettings: strictSettings),
        // Domain model (agents, lifecycle, tokens) and the storage protocols.
        .target(
            name: "PortcullisCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Keys, tokens, client authentication, DPoP, token exchange, attestation.
        .target(
            name: "PortcullisIdentity",
            dependencies: [
                "PortcullisCore",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Storage adapters behind the PortcullisCore protocols: SQLite (GRDB).
        .target(
            name: "PortcullisStore",
            dependencies: ["PortcullisCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        // The PostgreSQL adapter behind the same protocols (postgres-nio), and the change feed on LISTEN/NOTIFY
        // that carries kills, revocations and reloads to every replica (issue #14, docs/scale-out.md).
        .target(
            name: "PortcullisStorePostgres",
            dependencies: [
                "PortcullisCore", "PortcullisAudit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The credential vault: secrets sealed under a key kept outside the database, and the credentials the
        // gateways inject (static, basic, OAuth client credentials).
        .target(
            name: "PortcullisVault",
            dependencies: [
                "PortcullisCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strictSettings
        ),
        // The audit log: Merkle log, checkpoints, proofs, exporters.
        .target(
            name: "PortcullisAudit",
            dependencies: [
                "PortcullisCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The enforcement pipeline every gateway front end shares: inspection, decisions, obligations,
        // limits, approvals, the behaviour monitor, the kill switch, taint and the audit records.
        .target(
            name: "PortcullisEnforcement",
            dependencies: [
                "Cedar", "PortcullisCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The MCP front end: protocol revisions, sessions, upstream connections, tool registry and pinning.
        .target(
            name: "PortcullisGateway",
            dependencies: [
                "Cedar", "PortcullisCore", "PortcullisEnforcement", "PortcullisVault",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        // The Hummingbird application: routes, wiring, configuration.
        .target(
            name: "PortcullisServer",
            dependencies: [
                "Cedar", "PortcullisCore", "PortcullisIdentity", "PortcullisStore", "PortcullisStorePostgres", "PortcullisAudit",
                "PortcullisEnforcement", "PortcullisGateway", "PortcullisVault",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "portcullis",
            dependencies: [
                "Cedar", "PortcullisCore", "PortcullisServer", "PortcullisAudit", "PortcullisEnforcement", "PortcullisGateway", "PortcullisVault",
                "PortcullisStorePostgres", "PortcullisIdentity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Test support shared by the test targets: in-memory stores, a recording upstream, a clock the test moves.
        .target(
            name: "PortcullisTesting",
            dependencies: ["Cedar", "PortcullisCore", "PortcullisEnforcement", "PortcullisGateway"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "CedarBenchmarks",
            dependencies: ["Cedar"],
            path: "Benchmarks/CedarBenchmarks",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "TokenBenchmarks",
            dependencies: [
                "PortcullisCore", "PortcullisIdentity", "PortcullisServer", "PortcullisStore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/TokenBenchmarks",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "GatewayBenchmarks",
            dependencies: [
                "Cedar", "PortcullisCore", "PortcullisIdentity", "PortcullisEnforcement", "PortcullisGateway", "PortcullisServer",
                "PortcullisAudit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/GatewayBenchmarks",
            swiftSettings: strictSettings
        ),
        // What value provenance adds to a call with a 10 KB result (issue #17).
        .executableTarget(
            name: "ProvenanceBenchmarks",
            dependencies: ["Cedar", "PortcullisEnforcement"],
            path: "Benchmarks/ProvenanceBenchmarks",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "AuditBenchmarks",
            dependencies: ["PortcullisAudit", "PortcullisCore", "PortcullisStorePostgres"],
            path: "Benchmarks/AuditBenchmarks",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisAuditTests",
            dependencies: ["PortcullisAudit", "PortcullisCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "CedarTests", dependencies: ["Cedar"], swiftSettings: strictSettings),
        .testTarget(
            name: "PortcullisGatewayTests",
            dependencies: ["PortcullisEnforcement", "PortcullisGateway", "PortcullisCore", "PortcullisTesting", "Cedar",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisEnforcementTests",
            dependencies: ["PortcullisEnforcement", "PortcullisGateway", "PortcullisCore", "PortcullisTesting", "Cedar",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisStoreTests",
            dependencies: ["PortcullisCore", "PortcullisStore", "PortcullisStorePostgres", "PortcullisAudit",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisVaultTests",
            dependencies: [
                "PortcullisCore", "PortcullisStore", "PortcullisVault", "PortcullisGateway", "Cedar",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisIdentityTests",
            dependencies: ["PortcullisCore", "PortcullisIdentity", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PortcullisServerTests",
            dependencies: [
                "PortcullisServer", "PortcullisCore", "PortcullisIdentity", "PortcullisStore", "PortcullisAudit",
                "PortcullisEnforcement", "PortcullisGateway", "PortcullisTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
