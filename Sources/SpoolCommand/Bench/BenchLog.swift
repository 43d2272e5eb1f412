import ArgumentParser
import Foundation
import Logging
import Spool

/// `spool bench log`: the cost of one call through the logging front, next to swift-log's own
/// `Logger` measured in the same run.
struct BenchLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Nanoseconds per log call through the front, next to swift-log's Logger.",
        discussion: """
            Each case is timed over --iterations calls (fewer for the durable spool modes), --runs
            times; the table shows the median, the fastest and the slowest run. Allocations per call
            are counted by preloading libSpoolMallocCounter.so (built beside `spool` by
            `swift build -c release --product SpoolMallocCounter`): the command re-runs itself
            with LD_PRELOAD when it finds the library; without it the column says "-".

            Example:
              swift run -c release spool bench log --runs 7
            """
    )

    @Option(help: "Timed runs per case; the median is reported.")
    var runs = 5

    @Option(help: "Calls per run for the in-memory cases.")
    var iterations = 1_000_000

    @Option(help: "Directory for the temporary spool files (use a real disk: fsync on tmpfs is free).")
    var directory = FileManager.default.currentDirectoryPath

    func run() async throws {
        AllocationCounter.preloadIfAvailable()
        let spoolDirectory = directory + "/spool-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spoolDirectory) }

        print("spool bench log: \(runs) runs, \(iterations) calls per run; spools in \(spoolDirectory)")
        print("")
        print("allocations: \(AllocationCounter.available ? "counted (libSpoolMallocCounter.so preloaded)" : "not counted (build the SpoolMallocCounter product)")")
        print("")
        print("| case | ns/call (median) | min–max | allocations/call |")
        print("|---|---:|---:|---:|")

        let swiftLog = Logger(label: "bench") { _ in NoOpSwiftLogHandler() }
        var swiftLogInfoLevel = swiftLog
        swiftLogInfoLevel.logLevel = .info
        measure("swift-log Logger, below its level", iterations) { swiftLogInfoLevel.debug("request served") }
        measure("swift-log Logger → no-op handler", iterations) { swiftLog.info("request served") }

        let noOp = SpoolLogger(topic: "bench", minimumLevel: .info, handlers: [NoOpHandler()])
        measure("SpoolLogger, below minimum level", iterations) { noOp.debug("request served") }
        measure("SpoolLogger → no-op handler", iterations) { noOp.info("request served") }
        measure("SpoolLogger → no-op, topic + 2-key context", iterations) {
            noOp.info("request served", topic: "http", context: ["status": 200, "path": "/v1/orders"])
        }
        let bridged = Logger(label: "bench", factory: SpoolLogHandler.factory(noOp))
        measure("swift-log Logger → SpoolLogHandler → no-op", iterations) { bridged.info("request served") }

        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        let console = SpoolLogger(topic: "bench", handlers: [ConsoleHandler(format: .json, fileDescriptor: devNull)])
        measure("SpoolLogger → console (JSON) to /dev/null", iterations / 10) { console.info("request served") }
        let human = SpoolLogger(topic: "bench", handlers: [ConsoleHandler(format: .human(colour: true), fileDescriptor: devNull)])
        measure("SpoolLogger → console (human) to /dev/null", iterations / 10) { human.info("request served") }

        for (name, durability, calls) in [
            ("buffered", SpoolStore.Durability.buffered(maxDelay: .milliseconds(200)), iterations / 10),
            ("committed", .committed, max(1, iterations / 100)),
            ("fsync", .fsync, max(1, iterations / 2000)),
        ] {
            let store = try SpoolStore(path: "\(spoolDirectory)/\(name).spool", configuration: SpoolStore.Configuration(durability: durability))
            let spool = SpoolLogger(topic: "bench", handlers: [SpoolStoreHandler(store)])
            try await store.whileRunning {  // checkpoints off the calls, buffered mode's committer
                measure("SpoolLogger → spool (\(name))", calls) { spool.info("request served") }
            }
            try store.close()
        }
    }

    /// Times `body` over `calls` calls, `runs` times.
    private func measure(_ name: String, _ calls: Int, _ body: () -> Void) {
        for _ in 0..<min(calls, 10_000) { body() }  // warm-up: caches, lazy globals, page faults
        var samples: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = ContinuousClock.now
            for _ in 0..<calls { body() }
            let elapsed = ContinuousClock.now - start
            samples.append(Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9)
        }
        samples = samples.map { $0 / Double(calls) }.sorted()
        let median = samples[samples.count / 2]
        let allocations = AllocationCounter.perCall(calls, body).map { String(format: "%.2f", $0) } ?? "-"
        print("| \(name) | \(format(median)) | \(format(samples.first!))–\(format(samples.last!)) | \(allocations) |")
    }

    private func format(_ nanoseconds: Double) -> String {
        nanoseconds < 100 ? String(format: "%.1f", nanoseconds) : String(format: "%.0f", nanoseconds)
    }
}

/// A handler that does nothing: the cost of the front itself.
private struct NoOpHandler: LogEntryHandler {
    func handle(_ entry: LogEntry) {}
}

/// swift-log's cheapest handler that still receives the call (its `SwiftLogNoOpLogHandler`
/// reports level `critical`, so `info` never reaches it).
private struct NoOpSwiftLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    func log(event: LogEvent) {}
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// Counts heap allocations through libSpoolMallocCounter.so, when it is preloaded.
enum AllocationCounter {
    private typealias Enable = @convention(c) (Int32) -> Void
    private typealias Count = @convention(c) () -> UInt64
    private static let marker = "SPOOL_BENCH_ALLOCATIONS"

    nonisolated(unsafe) private static let handle = dlopen(nil, RTLD_NOW)
    private static var enable: Enable? {
        dlsym(handle, "spool_malloc_counter_enable").map { unsafeBitCast($0, to: Enable.self) }
    }
    private static var count: Count? {
        dlsym(handle, "spool_malloc_counter_count").map { unsafeBitCast($0, to: Count.self) }
    }

    static var available: Bool { enable != nil && count != nil }

    /// Runs this command again with the counter preloaded, if the library sits beside `spool`
    /// and it is not preloaded yet. Returns only when it did not re-run.
    static func preloadIfAvailable() {
        guard !available, ProcessInfo.processInfo.environment[marker] == nil else { return }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let library = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("libSpoolMallocCounter.so").path
        guard FileManager.default.fileExists(atPath: library) else { return }
        setenv("LD_PRELOAD", library, 1)
        setenv(marker, "1", 1)
        fflush(nil)
        var arguments = CommandLine.arguments.map { strdup($0) }
        arguments.append(nil)
        execv(executable, &arguments)
        // execv returned: it failed; measure without allocations.
    }

    /// Allocations per call of `body` over `calls` calls (process-wide: the cases run on one thread).
    static func perCall(_ calls: Int, _ body: () -> Void) -> Double? {
        guard let enable, let count, calls > 0 else { return nil }
        let before = count()
        enable(1)
        for _ in 0..<calls { body() }
        enable(0)
        return Double(count() - before) / Double(calls)
    }
}
