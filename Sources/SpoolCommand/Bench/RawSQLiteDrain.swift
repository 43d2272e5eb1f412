import CSQLite
import Foundation
import Spool

/// The drain baseline: the same backlog drained with the SQLite C API alone. Each round reads
/// the next `batch` rows in id order (every column's bytes touched, no `String` made) and
/// deletes them in one transaction: a claim and an acknowledgement with nothing in between,
/// no encoding, no sending. WAL with synchronous=NORMAL, as the spool opens it.
enum RawSQLiteDrain {
    struct Result {
        var seconds: Double
        var usage: ResourceUsage
    }

    static func run(directory: String, count: Int, syntheticBytes: Int?, batch: Int) async throws -> Result {
        let path = directory + "/raw-drain.spool"
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        var configuration = SpoolStore.Configuration(durability: .committed)
        configuration.maximumBytes = nil
        let store = try SpoolStore(path: path, configuration: configuration)
        if let syntheticBytes {
            try ForwardPipeline.append(count: count, messageBytes: syntheticBytes, to: store)
        } else {
            try ForwardPipeline.appendCorpus(count: count, to: store)
        }
        try store.close()

        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw BenchFailure(message: "cannot open \(path)") }
        defer { sqlite3_close(db) }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nil, nil, nil)
        var select: OpaquePointer?, delete: OpaquePointer?, begin: OpaquePointer?, commit: OpaquePointer?
        sqlite3_prepare_v2(db, "SELECT id, ts_ns, level, topic, message, context, schema FROM entries WHERE id > ? ORDER BY id LIMIT ?", -1, &select, nil)
        sqlite3_prepare_v2(db, "DELETE FROM entries WHERE id <= ?", -1, &delete, nil)
        sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nil)
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nil)
        defer { sqlite3_finalize(select); sqlite3_finalize(delete); sqlite3_finalize(begin); sqlite3_finalize(commit) }

        let before = ResourceUsage.now()
        let start = ContinuousClock.now
        var last: Int64 = 0, drained = 0, touched = 0
        while true {
            sqlite3_bind_int64(select, 1, last)
            sqlite3_bind_int64(select, 2, Int64(batch))
            var rows = 0
            while sqlite3_step(select) == SQLITE_ROW {
                last = sqlite3_column_int64(select, 0)
                _ = sqlite3_column_int64(select, 1)
                for column in Int32(2)...6 {
                    if let text = sqlite3_column_text(select, column) { touched &+= Int(text.pointee) }
                    touched &+= Int(sqlite3_column_bytes(select, column))
                }
                rows += 1
            }
            sqlite3_reset(select)
            if rows == 0 { break }
            sqlite3_step(begin); sqlite3_reset(begin)
            sqlite3_bind_int64(delete, 1, last)
            guard sqlite3_step(delete) == SQLITE_DONE else { throw BenchFailure(message: String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(delete)
            guard sqlite3_step(commit) == SQLITE_DONE else { throw BenchFailure(message: String(cString: sqlite3_errmsg(db))) }
            sqlite3_reset(commit)
            drained += rows
        }
        let seconds = elapsedSeconds(since: start)
        let usage = ResourceUsage.now() - before
        guard drained == count, touched != 0 else { throw BenchFailure(message: "the raw drain read \(drained) of \(count) rows") }
        return Result(seconds: seconds, usage: usage)
    }
}
