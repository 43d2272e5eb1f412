// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for Spool's parsers of untrusted input (docs/reliability.md).
//
// A package of its own, depending on Spool by path, so that the main build and `swift test` never
// see `-sanitize=fuzzer`, and the fuzz build keeps its own `.build` under tools/fuzz. Build and
// run with `tools/fuzz/run`, which passes `-sanitize=fuzzer,address` (and links with lld).
//
// Each `Fuzz*` target is one file: a `fuzz(_:_:)` function (one input, properties checked) and an
// `@main` that hands it to libFuzzer's driver (`LLVMFuzzerRunDriver`). Not libFuzzer's own `main`
// with `LLVMFuzzerTestOneInput`: SwiftPM links every executable through a `<target>_main`
// entry point, which a `-parse-as-library` file without `@main` does not define.
//
// The entry points fuzzed are mostly Spool's `package` declarations, not its public API (the
// Retry-After parser, the configuration loader's internals), so `run` builds every module with
// `-enable-testing` and the targets use `@testable import`. The ingest line parser lives in the
// `spool` executable (see Sources/FuzzIngest/LineParser.swift, a link to the real file, whose
// imports switch to `@testable` under `-DSPOOL_FUZZ`).
let settings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport", .product(name: "Spool", package: "Spool"), .product(name: "SpoolForwarding", package: "Spool")] + dependencies,
        swiftSettings: settings
    )
}

let package = Package(
    name: "SpoolFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Spool", path: "../.."),
        // The versions Spool itself requires: the line parser uses ArgumentParser, the context
        // target swift-log's metadata.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer", .product(name: "Spool", package: "Spool")], swiftSettings: settings),
        fuzzTarget("FuzzIngest", [.product(name: "ArgumentParser", package: "swift-argument-parser")]),
        fuzzTarget("FuzzContext", [.product(name: "Logging", package: "swift-log")]),
        fuzzTarget("FuzzTimestamp"),
        fuzzTarget("FuzzRetryAfter"),
        fuzzTarget("FuzzConfiguration"),
    ]
)
