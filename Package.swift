// swift-tools-version:6.1
import PackageDescription
import Foundation

/// Every target: Swift 6 language mode (strict concurrency). Explicit Sendable checking
/// (`-require-explicit-sendable`) is an unsafe flag, and SwiftPM refuses packages with unsafe
/// flags as dependencies, so it is switched on by `SPOOL_STRICT=1` (set by `.ci/run`) rather
/// than for every consumer of the library.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
] + (ProcessInfo.processInfo.environment["SPOOL_STRICT"] == "1"
    ? [.unsafeFlags(["-Xfrontend", "-require-explicit-sendable"])] : [])

let package = Package(
    name: "Spool",
    // What the code is written for (docs/architecture.md, "Platforms"): Linux, where it is built
    // and tested, and macOS and iOS, whose code paths (`#if canImport(Darwin)`) are written from
    // Apple's headers but not compiled here. The floor is Synchronization's `Mutex` (macOS 15,
    // iOS 18). tvOS 18, watchOS 11 and visionOS 2 have `Mutex` too, but nothing about them (a
    // watch's background limits, say) has been thought through, so they are not claimed.
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "Spool", targets: ["Spool"]),
        .library(name: "SpoolForwarding", targets: ["SpoolForwarding"]),
        .library(name: "SpoolTesting", targets: ["SpoolTesting"]),
        .executable(name: "spool", targets: ["SpoolCommand"]),
        // Preloaded by `spool bench log` to count allocations per call; never linked into spool.
        .library(name: "SpoolMallocCounter", type: .dynamic, targets: ["SpoolMallocCounter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // `spool forward --metrics-address`: the swift-metrics backend behind GET /metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation`: the DocC catalogs of Spool and SpoolForwarding
        // (a command plugin only: nothing of it is built into a product).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The system SQLite (apt: libsqlite3-dev, pkg-config: sqlite3).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        // The system zlib (apt: zlib1g-dev): the test server's own gzip decoder, kept apart from
        // the package's libdeflate so tests never check our gzip with itself.
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // The system libdeflate (apt: libdeflate-dev): gzip of request bodies at levels 2-9, and
        // `spool`'s one decoder (its receiver, for the demo and the benchmarks).
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"]), .brew(["libdeflate"])]
        ),
        // The system ISA-L (apt: libisal-dev): gzip of request bodies at level 1, the default,
        // twice as fast as libdeflate's level 1 (Gzip.swift).
        .systemLibrary(
            name: "CIsal",
            pkgConfig: "libisal",
            providers: [.apt(["libisal-dev"]), .brew(["isa-l"])]
        ),
        // glibc's mallopt, for `spool forward`'s one malloc arena (a header only, nothing to link).
        .systemLibrary(name: "CMalloc"),
        // Build-time embedding of migrations/*.sql, so an installed `spool` needs no files beside it.
        .executableTarget(name: "EmbedMigrationsTool", swiftSettings: strict),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedMigrationsTool"],
            path: "Sources/EmbedMigrationsPlugin"
        ),
        // The light product: the logging front, the store and the swift-log backend. Only
        // swift-log and the system SQLite, so an app that logs to a spool compiles nothing else.
        .target(
            name: "Spool",
            dependencies: [
                "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            plugins: ["EmbedMigrations"]
        ),
        // Everything that sends: schedulers, the transport, every sink, metrics, the `Forwarder`
        // service and the YAML configuration.
        .target(
            name: "SpoolForwarding",
            dependencies: [
                "Spool",
                "CDeflate",
                "CIsal",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .target(name: "SpoolTesting", dependencies: ["Spool"], swiftSettings: strict),
        .executableTarget(
            name: "SpoolCommand",
            dependencies: [
                "Spool",
                "SpoolForwarding",
                "CSQLite",  // the raw-SQLite baselines of `spool bench`
                "CDeflate",  // the receiver (demo, bench) reads gzip bodies
                "CMalloc",  // `spool forward` limits malloc to one arena
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),  // ServiceGroup's (silent) logger
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),  // `spool forward`
                // The receiver on 127.0.0.1: the demo's Loki, the bench's counting receiver.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // `spool forward --metrics-address`: bootstrapped only by the executable, never by the library.
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // An HTTP server on 127.0.0.1 with scripted faults, for the forwarding tests.
        .target(
            name: "SpoolTestServer",
            dependencies: [
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(name: "SpoolMallocCounter"),
        // A child process for tests that need a second process: crash (SIGKILL) and lease tests.
        .executableTarget(name: "SpoolTestChild", dependencies: ["Spool"], path: "Tests/SpoolTestChild", swiftSettings: strict),
        // The crash invariants and the processes they watch: shared by the crash matrix test and the soak.
        .target(name: "SpoolCrashRig", dependencies: ["Spool", "SpoolForwarding", "SpoolTestServer"], path: "Tests/SpoolCrashRig", swiftSettings: strict),
        // tools/soak: hours of logging with receiver outages and SIGKILLs, invariants checked throughout.
        .executableTarget(name: "SpoolSoak", dependencies: ["SpoolCrashRig", "SpoolForwarding", "SpoolTestServer"], path: "Tests/SpoolSoak", swiftSettings: strict),
        // The power-cut simulator (docs/reliability.md, "Power loss"): a recording SQLite VFS, the
        // images a cut leaves, the checker, and tools/powercut.
        .target(name: "CPowerCut", dependencies: ["CSQLite"], path: "Tests/CPowerCut"),
        .target(name: "SpoolPowerCut", dependencies: ["Spool", "CPowerCut", "CSQLite"], path: "Tests/SpoolPowerCut", swiftSettings: strict),
        .executableTarget(name: "SpoolPowerCutTool", dependencies: ["SpoolPowerCut"], path: "Tests/SpoolPowerCutTool", swiftSettings: strict),
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool", "SpoolForwarding", "SpoolTesting", "SpoolCommand", "SpoolTestChild", "SpoolTestServer", "SpoolCrashRig", "SpoolPowerCut",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // An app's own HTTPClient handed to the transport (ForwardAppHTTPClientTests).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
