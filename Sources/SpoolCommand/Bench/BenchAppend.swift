import ArgumentParser
import CSQLite
import Foundation
import Spool

/// `spool bench append`: append throughput and latency for each durability mode with 1 and N
/// threads, next to raw-SQLite loops measured in the same run on the same schema and row size.
struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append throughput and latency per durability mode, against a raw-SQLite baseline.",
        discussion: """
            Each case appends rows of --message-bytes for --seconds, in a fresh spool in --directory.
            Baselines: the raw SQLite C API on the same schema with one commit per row, and with
            1000 rows per commit (WAL, synchronous=NORMAL). Build with -c release.

            --pinned-reader measures committed appends (1 and --threads threads), each case \
            without and then with another connection that holds a read transaction open for \
            the whole case (as a sqlite3 shell left inside BEGIN), and prints the ratio.

            Example:
              swift run -c release spool bench append --seconds 3
              swift run -c release spool bench append --pinned-reader --seconds 3
            """
    )

    @Option(help: "Seconds per case.") var seconds: Double = 2
    @Option(help: "Message size in bytes.") var messageBytes: Int = 200
    @Option(help: "Thread count for the concurrent cases.") var threads: Int = 8
    @Option(help: "Directory for the spool files (default: a new temporary directory).") var directory: String?
    @Option(help: "WAL pages that ask for a checkpoint.") var checkpointPages: Int = SpoolStore.Configuration().checkpointPages
    @Option(help: "Run only the cases whose name contains this text (e.g. committed, raw).") var only: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Measure committed appends with and without a second connection holding a read transaction for the whole case, and print the ratio.")
    var pinnedReader = false

    func run() async throws {
        let base = directory ?? NSTemporaryDirectory() + "/spool-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: base) } }
        let message = String(repeating: "m", count: messageBytes)
        var results: [BenchResult] = []
        var caseNumber = 0
        func freshPath() -> String {
            caseNumber += 1
            let path = "\(base)/case-\(caseNumber).spool"
            // A case starts from an empty spool, also when --directory holds an earlier run's.
            for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
            return path
        }

        // The one-commit-per-row baseline always runs: every ratio is against it.
        results.append(try RawSQLiteLoop.run(path: freshPath(), message: message, rowsPerCommit: 1, seconds: seconds))
        func selected(_ name: String) -> Bool { only.map { name.contains($0) } ?? true }
        if selected("raw sqlite, 1000 rows/commit") {
            results.append(try RawSQLiteLoop.run(path: freshPath(), message: message, rowsPerCommit: 1000, seconds: seconds))
        }
        if pinnedReader {
            var ratios: [String] = []
            for threadCount in [1, threads] {
                let alone = try await AppendLoop.run(path: freshPath(), mode: .committed, threads: threadCount, message: message, seconds: seconds, checkpointPages: checkpointPages)
                let beside = try await AppendLoop.run(path: freshPath(), mode: .committed, threads: threadCount, message: message, seconds: seconds, checkpointPages: checkpointPages, pinnedReader: true)
                results += [alone, beside]
                ratios.append(String(format: "%d thread%@ %.2f", threadCount, threadCount == 1 ? "" : "s", beside.rate / alone.rate))
            }
            BenchResult.print(results, baseline: results[0], json: json)
            if !json { print("pinned reader / no reader, committed: " + ratios.joined(separator: ", ")) }
            return
        }
        let modes: [SpoolStore.Durability] = [.committed, .fsync, .buffered(maxDelay: .milliseconds(200))]
        for mode in modes where selected("spool \(mode)") {
            for threadCount in [1, threads] {
                results.append(try await AppendLoop.run(path: freshPath(), mode: mode, threads: threadCount, message: message, seconds: seconds, checkpointPages: checkpointPages))
            }
        }
        BenchResult.print(results, baseline: results[0], json: json)
    }
}

/// One line of a benchmark table.
struct BenchResult: Codable {
    var name: String
    var threads: Int
    var entries: Int
    var seconds: Double
    var p50Microseconds: Double?
    var p99Microseconds: Double?
    /// Average rows per transaction (group commit), when known.
    var rowsPerCommit: Double?

    var rate: Double { Double(entries) / seconds }

    static func print(_ results: [BenchResult], baseline: BenchResult, json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try! encoder.encode(results), as: UTF8.self))
            return
        }
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        func left(_ text: String, _ width: Int) -> String { text.count >= width ? text : String(repeating: " ", count: width - text.count) + text }
        Swift.print(pad("case", 28) + left("threads", 8) + left("entries/s", 13) + left("p50 µs", 10) + left("p99 µs", 10) + left("vs raw", 9) + left("rows/commit", 13))
        for result in results {
            let p50 = result.p50Microseconds.map { String(format: "%.1f", $0) } ?? "-"
            let p99 = result.p99Microseconds.map { String(format: "%.1f", $0) } ?? "-"
            Swift.print(pad(result.name, 28) + left("\(result.threads)", 8) + left(String(format: "%.0f", result.rate), 13)
                + left(p50, 10) + left(p99, 10) + left(String(format: "%.2f", result.rate / baseline.rate), 9)
                + left(result.rowsPerCommit.map { String(format: "%.1f", $0) } ?? "-", 13))
        }
    }
}

/// Percentiles of latency samples in nanoseconds, as microseconds.
func percentile(_ sorted: [UInt64], _ fraction: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) / 1000
}

func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
