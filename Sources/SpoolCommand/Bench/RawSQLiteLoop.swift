import CSQLite
import Foundation
import Spool

/// The baseline: the SQLite C API inserting the same rows into the same schema, one thread,
/// a prepared statement, WAL with synchronous=NORMAL, SQLite's default auto-checkpoint.
enum RawSQLiteLoop {
    static func run(path: String, message: String, rowsPerCommit: Int, seconds: Double) throws -> BenchResult {
        try SpoolStore(path: path).close()  // the same schema, from the migrations
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw BenchFailure(message: "cannot open \(path)") }
        defer { sqlite3_close(db) }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nil, nil, nil)
        var insert: OpaquePointer?
        sqlite3_prepare_v2(db, "INSERT INTO entries (ts_ns, level, topic, message, context, schema) VALUES (?, ?, ?, ?, ?, ?)", -1, &insert, nil)
        var begin: OpaquePointer?, commit: OpaquePointer?
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nil)
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nil)
        defer { sqlite3_finalize(insert); sqlite3_finalize(begin); sqlite3_finalize(commit) }
        let transient = spool_sqlite_transient()
        let context = #"{"attempt":1,"request_id":"8f14e45f"}"#
        var samples: [UInt64] = []
        samples.reserveCapacity(1 << 20)
        var count = 0
        let start = monotonicNanoseconds()
        let end = start + UInt64(seconds * 1e9)
        while true {
            let commitStart = monotonicNanoseconds()
            if commitStart >= end { break }
            sqlite3_step(begin); sqlite3_reset(begin)
            for _ in 0..<rowsPerCommit {
                sqlite3_bind_int64(insert, 1, Int64(commitStart))
                sqlite3_bind_text(insert, 2, "info", -1, transient)
                sqlite3_bind_text(insert, 3, "bench.raw", -1, transient)
                sqlite3_bind_text(insert, 4, message, -1, transient)
                sqlite3_bind_text(insert, 5, context, -1, transient)
                sqlite3_bind_text(insert, 6, LogEntry.currentSchema, -1, transient)
                guard sqlite3_step(insert) == SQLITE_DONE else { throw BenchFailure(message: String(cString: sqlite3_errmsg(db))) }
                sqlite3_reset(insert)
            }
            guard sqlite3_step(commit) == SQLITE_DONE else { throw BenchFailure(message: String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(commit)
            samples.append(monotonicNanoseconds() - commitStart)
            count += rowsPerCommit
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        samples.sort()
        let name = rowsPerCommit == 1 ? "raw sqlite, 1 row/commit" : "raw sqlite, \(rowsPerCommit) rows/commit"
        // Latency of a raw row is its commit's latency only with one row per commit.
        return BenchResult(name: name, threads: 1, entries: count, seconds: elapsed,
                           p50Microseconds: rowsPerCommit == 1 ? percentile(samples, 0.5) : nil,
                           p99Microseconds: rowsPerCommit == 1 ? percentile(samples, 0.99) : nil,
                           rowsPerCommit: Double(rowsPerCommit))
    }
}
