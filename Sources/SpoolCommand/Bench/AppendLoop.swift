import CSQLite
import Foundation
import Spool
import Synchronization

/// N threads appending through ``SpoolStore`` for a fixed time, each timing every call, with the
/// store's background work running (checkpoints off the append path, buffered mode's committer).
enum AppendLoop {
    /// - Parameter pinnedReader: keep a second connection inside a read transaction for the whole
    ///   run, as a `sqlite3` shell left in `BEGIN` would (`spool bench append --pinned-reader`).
    static func run(path: String, mode: SpoolStore.Durability, threads: Int, message: String, seconds: Double, checkpointPages: Int,
                    pinnedReader: Bool = false) async throws -> BenchResult {
        var configuration = SpoolStore.Configuration(durability: mode)
        configuration.maximumBytes = nil
        configuration.checkpointPages = checkpointPages
        configuration.report = { _ in }  // a pinned reader's WAL warning is expected here
        let spool = try SpoolStore(path: path, configuration: configuration)
        let reader = pinnedReader ? try PinnedReader(path: path) : nil
        defer { reader?.close() }
        return try await spool.whileRunning {
            try measure(spool, threads: threads, message: message, seconds: seconds, name: "spool \(mode)" + (pinnedReader ? " + reader" : ""))
        }
    }

    private static func measure(_ spool: SpoolStore, threads: Int, message: String, seconds: Double, name: String) throws -> BenchResult {
        let deadline = Atomic<UInt64>(0)
        let counts = Mutex<[Int]>([])
        let samples = Mutex<[UInt64]>([])
        let failures = Mutex<[String]>([])
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        let context: [String: JSONValue] = ["request_id": "8f14e45f", "attempt": 1]
        for thread in 0..<threads {
            done.enter()
            Thread.detachNewThread {
                var local: [UInt64] = []
                local.reserveCapacity(1 << 20)
                var count = 0
                let topic = "bench.t\(thread)"
                ready.signal()
                go.wait()
                let end = deadline.load(ordering: .acquiring)
                do {
                    while true {
                        let start = monotonicNanoseconds()
                        if start >= end { break }
                        try spool.append(LogEntry(timestamp: Int64(start), level: .info, topic: topic, message: message, context: context))
                        local.append(monotonicNanoseconds() - start)
                        count += 1
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
                counts.withLock { $0.append(count) }
                samples.withLock { $0.append(contentsOf: local) }
                done.leave()
            }
        }
        for _ in 0..<threads { ready.wait() }
        let start = monotonicNanoseconds()
        deadline.store(start + UInt64(seconds * 1e9), ordering: .releasing)
        for _ in 0..<threads { go.signal() }
        done.wait()
        try spool.flush()  // buffered mode: what was accepted is committed before the clock stops
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let perCommit = spool.rowsPerCommit
        try spool.close()
        if let failure = failures.withLock({ $0.first }) { throw BenchFailure(message: failure) }
        let sorted = samples.withLock { $0.sorted() }
        return BenchResult(name: name, threads: threads, entries: counts.withLock { $0.reduce(0, +) },
                           seconds: elapsed, p50Microseconds: percentile(sorted, 0.5), p99Microseconds: percentile(sorted, 0.99),
                           rowsPerCommit: perCommit)
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A plain SQLite connection inside a read transaction: the snapshot it holds keeps every
/// checkpoint from copying the frames after it, as a `sqlite3` shell left in `BEGIN` does.
final class PinnedReader {
    private var handle: OpaquePointer?

    init(path: String) throws {
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK,
              sqlite3_exec(handle, "BEGIN; SELECT count(*) FROM entries;", nil, nil, nil) == SQLITE_OK
        else { throw BenchFailure(message: "the pinned reader could not open \(path)") }
    }

    func close() {
        sqlite3_exec(handle, "COMMIT", nil, nil, nil)
        sqlite3_close_v2(handle)
        handle = nil
    }
}
