import CSpoolVFS
import Foundation
import Testing
@testable import Spool

/// How a commit reaches the files: the spool VFS writes a transaction's WAL frames in one call,
/// before the commit returns; rows are bound in place; a group-commit leader takes its company
/// as it arrives.
@Suite struct StoreWALWriteTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    /// SQLite alone writes each frame in two calls (its header, then its page). The counter is
    /// per thread, and a lone appender leads its own commits on its own thread.
    @Test func aCommitWritesItsWALFramesInOneCall() async throws {
        let spool = try SpoolStore(path: path)
        let message = String(repeating: "m", count: 300)
        let writes = try await onOwnThread { () throws -> [Int64] in
            try spool.append(entry(0))
            var writes: [Int64] = []
            // 1 frame; 1 page or 2; ~9 frames (35 KB); ~35 frames (140 KB, past the 64 KiB buffer).
            for batch in [1, 8, 100, 400] {
                let before = spool_vfs_wal_writes_on_this_thread()
                try spool.append(contentsOf: (1...batch).map { entry($0, message: message) })
                writes.append(spool_vfs_wal_writes_on_this_thread() - before)
            }
            return writes
        }
        #expect(writes[0...2] == [1, 1, 1])
        #expect((2...4).contains(writes[3]), "\(writes)")
        // What the calls wrote is in the files: SQLite's default VFS reads it all back.
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 1 + 1 + 8 + 100 + 400)
        #expect(try SQL(path).text("PRAGMA quick_check") == "ok")
    }

    /// Every commit is in the WAL file when `append` returns: another connection, through
    /// SQLite's default VFS, sees each entry at once, in fsync mode too.
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
