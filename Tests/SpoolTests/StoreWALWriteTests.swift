import Foundation
import Testing
@testable import Spool

/// How a commit reaches the files: everything of a commit is in the files when it returns (what a
/// SIGKILL then would leave recovers it); rows are bound in place; a group-commit leader takes its
/// company as it arrives.
@Suite struct StoreWALWriteTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    /// A copy of the files taken the moment `append` returned is what a crash would leave:
    /// SQLite recovers it from the WAL alone (no -shm), checking every frame's checksum. A
    /// transaction large enough to spill pages to the WAL and write some twice makes SQLite
    /// rewrite frame headers in place after the commit frame; those must be in the file too.
    @Test func theFilesAtTheMomentAppendReturnedRecoverEveryEntry() async throws {
        let spool = try SpoolStore(path: path)
        let copy = directory.file("copy.spool")
        let message = String(repeating: "x", count: 2000)
        let recovered = try await onOwnThread { () throws -> [Int64?] in
            var recovered: [Int64?] = []
            var appended = 0
            // 1 entry, then ~6 MB in one transaction (past the 500-page spill threshold).
            for batch in [1, 3000, 1] {
                try spool.append(contentsOf: (1...batch).map { entry($0, message: message) })
                appended += batch
                for suffix in ["", "-wal"] {
                    try? FileManager.default.removeItem(atPath: copy + suffix)
                    try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
                }
                try? FileManager.default.removeItem(atPath: copy + "-shm")
                let sql = try SQL(copy)
                recovered.append(try sql.int("SELECT count(*) FROM entries"))
                #expect(try sql.text("PRAGMA quick_check") == "ok")
            }
            return recovered
        }
        #expect(recovered == [1, 3001, 3002])
    }

    /// The same, forcing the case: with a tiny page cache, a transaction spills pages to the WAL
    /// and then changes them again, so SQLite rewrites those frames and their checksums in
    /// place after writing the commit frame (walRewriteChecksums), and a rolled-back one leaves
    /// spilled frames behind. A copy taken right after COMMIT returned must recover all of the
    /// committed transaction and nothing of the rolled-back one.
    @Test func framesRewrittenAfterTheCommitFrameAreInTheFileWhenCommitReturns() throws {
        let connection = try Connection(path: path, create: true)
        try connection.execute("""
            PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;
            PRAGMA cache_size = 10; PRAGMA cache_spill = 10;
            CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
            BEGIN; INSERT INTO t (v) SELECT 'a' FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100) SELECT x FROM c); ROLLBACK;
            BEGIN;
            WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000)
              INSERT INTO t (v) SELECT printf('%.200c', 'v') FROM c;
            UPDATE t SET v = 'changed' WHERE id <= 50;
            COMMIT;
            """)
        let copy = directory.file("copy.spool")
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
        }
        let sql = try SQL(copy)
        #expect(try sql.int("SELECT count(*) FROM t") == 5000)
        #expect(try sql.int("SELECT count(*) FROM t WHERE v = 'changed'") == 50)
        #expect(try sql.text("PRAGMA quick_check") == "ok")
    }

    /// Every commit is in the WAL file when `append` returns: another connection sees each
    /// entry at once, in fsync mode too.
    @Test(arguments: [SpoolStore.Durability.committed, .fsync])
    func eachCommitIsInTheFileWhenAppendReturns(durability: SpoolStore.Durability) async throws {
        let spool = try SpoolStore(path: path, configuration: .init(durability: durability))
        let missing = try await onOwnThread { () throws -> [Int] in
            let sql = try SQL(path)
            var missing: [Int] = []
            for number in 1...50 {
                try spool.append(entry(number))
                if try sql.int("SELECT count(*) FROM entries") != Int64(number) { missing.append(number) }
            }
            return missing
        }
        #expect(missing == [])
    }

    /// The text of a multi-row insert is bound from the writer's arena without copies: empty
    /// text stays empty (not NULL), no context stays NULL, and long and non-ASCII text is exact.
    @Test func rowsBoundInPlaceKeepTheirTextExactly() throws {
        let spool = try SpoolStore(path: path)
        let entries = [
            LogEntry(timestamp: 1, level: .info, topic: "", message: "", context: nil),
            LogEntry(timestamp: 2, level: .error, topic: "t", message: "héllo ✓ \u{0}nul", context: ["k": "v"]),
            LogEntry(timestamp: 3, level: .debug, topic: String(repeating: "x", count: 1000), message: String(repeating: "y", count: 100_000), context: [:]),
        ] + (4...40).map { LogEntry(timestamp: Int64($0), level: .notice, topic: "t\($0)", message: "m\($0)") }
        try spool.append(contentsOf: entries)
        let rows = try SQL(path).rows("SELECT ts_ns, level, topic, message, context, typeof(message) FROM entries ORDER BY id")
        #expect(rows.count == entries.count)
        for (row, entry) in zip(rows, entries) {
            #expect(row == ["\(entry.timestamp)", entry.level.rawValue, entry.topic, entry.message, entry.context.map { JSON.string($0) }, "text"])
        }
    }

    /// A leader takes the rows of each new ticket as it arrives, and stops when its company is
    /// complete or after a few looks with no arrival.
    @Test func aLeaderTakesArrivalsUntilItsCompanyIsComplete() {
        let lane = FastLock(Lane())
        func arrive(_ number: Int) {
            lane.withLock {
                $0.pending.append(PreparedRow(entry(number), maximumMessageBytes: 1024))
                $0.issued += 1
            }
        }
        arrive(1)
        var rows = lane.withLock { lane in
            defer { lane.pending.removeAll() }
            return lane.pending
        }
        var last: UInt64 = 1
        var gathering = Gathering(settled: 0, expected: 3)
        arrive(2)
        #expect(gathering.more(into: &rows, through: &last, from: lane))
        #expect(last == 2 && rows.map(\.message) == ["entry 1", "entry 2"])
        // Nobody arrives: it stops looking.
        #expect(gathering.more(into: &rows, through: &last, from: lane) == false)
        arrive(3)
        var late = Gathering(settled: 0, expected: 3)
        #expect(late.more(into: &rows, through: &last, from: lane))
        #expect(last == 3 && rows.count == 3 && lane.withLock { $0.pending.isEmpty })
        // Complete: it returns at once, even with another caller waiting.
        arrive(4)
        #expect(late.more(into: &rows, through: &last, from: lane) == false)
        #expect(last == 3 && rows.count == 3)
        // A leader whose last round was alone expects no company.
        var alone = Gathering(settled: 2, expected: 1)
        #expect(alone.more(into: &rows, through: &last, from: lane) == false)
    }
}
