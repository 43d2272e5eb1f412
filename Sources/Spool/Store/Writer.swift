import CSQLite
import Foundation

/// The spool's one writing connection in this process, with its hot statements prepared once.
/// It lives inside a `Mutex` in ``SpoolStore``: whoever holds the lock owns it.
package final class Writer {
    let connection: Connection
    private let begin: Statement
    private let commit: Statement
    private let rollback: Statement
    private let insert: Statement
    /// The same insert for 2 to ``rowsPerInsert`` rows at once (a multi-row VALUES), by row
    /// count, each prepared the first time a commit carries that many rows.
    private var insertMany: [Statement?] = Array(repeating: nil, count: Writer.rowsPerInsert + 1)
    private let moveFirstRow: Statement
    private let idFloor: Statement
    private let raiseFloor: Statement
    private let skipEntriesForOtherSinks: Statement
    private let recordCommitTime: Statement
    private let forgetCommitTimes: Statement
    /// The commit time this writer last recorded in `commit_times` (see ``recordCommitTimeIfDue``).
    private var lastCommitTimeRecorded: Int64?

    let maximumBytes: Int64?
    let policy: SpoolStore.OverflowPolicy
    /// fsync mode: every commit is synced already (`synchronous=FULL`).
    let syncsEveryCommit: Bool
    /// Whether this connection has synced its WAL once (``acknowledgementSync()``).
    var walSynced = false
    /// Estimate of the database's used bytes; measured exactly when it nears the bound.
    var usedBytesEstimate: Int64 = 0
    var bytesSinceMeasure: Int64 = 0
    static let remeasureEvery: Int64 = 4 << 20
    /// The bound in force at the last measure: `maximumBytes` or the disk's, the lower.
    var bound = Bound(bytes: .max, disk: false)
    /// Bytes appended before the next measure: `remeasureEvery`, less as the disk fills up
    /// (the free space can shrink under us; a measure costs a statvfs and a few pragmas).
    var measureEvery = Writer.remeasureEvery
    /// Set by a measure near a full disk when the WAL has outgrown half its reserve: the next
    /// commit checkpoints first (see `measureBound`).
    var checkpointFirst = false
    /// Room kept free on the file system for the WAL to grow between checkpoints, so that
    /// acknowledgements and drops (which write to the WAL too) still work on a full disk.
    let walReserveBytes: Int64
    /// Test-only: SQLite's `max_page_count`, standing in for a small file system.
    let maximumPageCount: Int64?
    /// The connection's busy timeout, restored after `restartWAL` shortened it.
    let busyTimeout: Duration

    /// - Parameter checkpointPages: the checkpoint threshold in force
    ///   (``SpoolStore/Configuration/effectiveCheckpointPages(fileSystemBytes:)``).
    init(connection: Connection, configuration: SpoolStore.Configuration, checkpointPages: Int) throws(SpoolError) {
        self.connection = connection
        begin = try connection.prepare("BEGIN IMMEDIATE", persistent: true)
        commit = try connection.prepare("COMMIT", persistent: true)
        rollback = try connection.prepare("ROLLBACK", persistent: true)
        insert = try connection.prepare(Self.insertSQL(rows: 1), persistent: true)
        moveFirstRow = try connection.prepare("UPDATE entries SET id = ? WHERE id = 1", persistent: true)
        idFloor = try connection.prepare("SELECT value FROM meta WHERE key = 'id_floor'", persistent: true)
        raiseFloor = try connection.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'id_floor'", persistent: true)
        // One index seek per sink when nothing is addressed (the first row after the position is
        // the sink's own): cheap enough for every acknowledgement.
        skipEntriesForOtherSinks = try connection.prepare("""
            UPDATE sinks SET position = max(position, COALESCE(
                (SELECT id - 1 FROM entries WHERE id > sinks.position AND (only_sink IS NULL OR only_sink = sinks.name) ORDER BY id LIMIT 1),
                (SELECT max(id) FROM entries),
                position))
            """, persistent: true)
        recordCommitTime = try connection.prepare("INSERT OR REPLACE INTO commit_times (first_id, at_ns) VALUES (?, ?)", persistent: true)
        // Keeps the row that covers the first entry left after the deletion.
        forgetCommitTimes = try connection.prepare(
            "DELETE FROM commit_times WHERE first_id < (SELECT max(first_id) FROM commit_times WHERE first_id <= ?1 + 1)",
            persistent: true)
        maximumBytes = configuration.maximumBytes
        policy = configuration.overflowPolicy
        if case .fsync = configuration.durability { syncsEveryCommit = true } else { syncsEveryCommit = false }
        busyTimeout = configuration.busyTimeout
        maximumPageCount = configuration.maximumPageCount.map(Int64.init)
        // Under a steady stream of appends the WAL reaches the checkpointer's RESTART threshold
        // (16 checkpoints' worth) before it starts over: keep room for that and one more.
        walReserveBytes = Int64(checkpointPages) * SpoolStore.Configuration.walReservePerPage
        usedBytesEstimate = try measureUsedBytes()
        bound = try measureBound(used: usedBytesEstimate)
    }

    /// What an insert did besides inserting: drops to report.
    struct Outcome {
        var drops: [Drop] = []
        /// The `drops` row of the last of them, which a contiguous drop of the same reason
        /// extends (``Writer/record(_:now:outcome:)``).
        var lastDropRow: Int64?
        /// The id of the first row this transaction inserted, nil while none was.
        var firstID: Int64?
    }

    struct Drop: Sendable {
        /// `overflow:` (the size bound) or `disk_full:`, then the policy that dropped.
        var reason: String
        var count: Int
        var firstID: Int64?
        var lastID: Int64?
        var bytes: Int64
    }

    // MARK: - Transactions

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on any error.
    func transaction<R>(_ body: () throws(SpoolError) -> R) throws(SpoolError) -> R {
        try begin.run()
        do throws(SpoolError) {
            let result = try body()
            CrashPoint.reached("store.commit")
            try commit.run()
            if let recorded = pendingCommitTime { lastCommitTimeRecorded = recorded }
            pendingCommitTime = nil
            return result
        } catch {
            pendingCommitTime = nil
            if connection.isInTransaction { try? rollback.run() }
            throw error
        }
    }

    // MARK: - Appending

    /// Inserts `rows` in one transaction, applying the size bound (and the disk's) first.
    ///
    /// Before it commits, the transaction asks `more` for further rows: `more` appends them to
    /// `rows` and returns true, and they are inserted too; when it returns false, the
    /// transaction commits. This lets a group-commit leader insert its round's first rows while
    /// the rest of its company is still on the way (see `SpoolStore.lead`).
    ///
    /// A full file system that the last measure did not see coming (another program filled it,
    /// or the WAL outgrew its reserve) fails the transaction with SQLITE_FULL, which rolls it
    /// back: then the bound is measured again, a checkpoint is tried, and every row taken so
    /// far is inserted once more, so the overflow policy applies as it does at the bound. If
    /// that fails too (even a drop needs room in the WAL), the error says so and nothing stored
    /// is touched.
    func insert(_ rows: inout [PreparedRow], now: Int64, more: (inout [PreparedRow]) -> Bool = { _ in false }) throws(SpoolError) -> Outcome {
        do {
            return try insertOnce(&rows, now: now, more: more)
        } catch where error.code == .diskFull && error.sqliteCode != nil {
            bytesSinceMeasure = Self.remeasureEvery
            // Start the WAL over if it can be (what frees room for the retry), else copy what
            // can be copied.
            restartWAL()
            _ = try? connection.scalarInt("PRAGMA wal_checkpoint(PASSIVE)")
            do {
                return try insertOnce(&rows, now: now, more: { _ in false })
            } catch where error.code == .diskFull && error.sqliteCode != nil {
                bytesSinceMeasure = Self.remeasureEvery
                throw SpoolError(.diskFull, "the file system holding the spool \(connection.path) is full (\(Self.freeBytes(connection.path).map { "\($0) bytes free" } ?? "free space unknown")): \(rows.count) entries were not stored and nothing stored before was touched; free space on that file system (entries acknowledged by every sink free room inside the spool)", sqliteCode: error.sqliteCode)
            }
        }
    }

    private func insertOnce(_ rows: inout [PreparedRow], now: Int64, more: (inout [PreparedRow]) -> Bool) throws(SpoolError) -> Outcome {
        if checkpointFirst {
            checkpointFirst = false
            // RESTART: copy the WAL into the database and let this commit start it over.
            restartWAL()
        }
        return try transaction { () throws(SpoolError) -> Outcome in
            var outcome = Outcome()
            var inserted = 0
            repeat {
                try insertRows(rows[inserted...], now: now, outcome: &outcome)
                inserted = rows.count
            } while more(&rows)
            if let first = outcome.firstID { try recordCommitTimeIfDue(firstID: first, now: now) }
            return outcome
        }
    }

    // MARK: - Commit times

    /// Commit times are recorded at most this often per writer: an entry's latency is then
    /// measured from at most this much before its commit, and a stream of small commits
    /// (one thread appending in committed mode: tens of thousands a second) pays for at most a
    /// thousand inserts a second into `commit_times` (BENCHMARKS.md, "Commit times").
    static let commitTimeResolution: Int64 = 1_000_000

    /// Records `now` as the commit time of the rows from `firstID` on, unless this writer
    /// recorded one less than ``commitTimeResolution`` ago (then those rows share that one's
    /// time, or a later one another process recorded). Inside the open transaction.
    private func recordCommitTimeIfDue(firstID: Int64, now: Int64) throws(SpoolError) {
        if let last = lastCommitTimeRecorded, now >= last, now - last < Self.commitTimeResolution { return }
        try recordCommitTime(firstID: firstID, now: now)
    }

    /// Records `now` as the commit time of the rows from `firstID` on (requeued dead letters
    /// always record one: the rows before them may be old).
    func recordCommitTime(firstID: Int64, now: Int64) throws(SpoolError) {
        recordCommitTime.bind(1, firstID)
        recordCommitTime.bind(2, now)
        try recordCommitTime.run()
        // Counted as recorded only once the transaction commits (a rollback takes the row too).
        pendingCommitTime = now
    }

    /// The commit time recorded by the transaction under way, until it commits.
    private var pendingCommitTime: Int64?

    /// Inserts `rows` inside the open transaction, applying the size bound first.
    ///
    /// Under `drop_oldest`, rows that together take more than a quarter of the bound go in
    /// parts of at most an eighth: each part's room is made by dropping the oldest entries, the
    /// earlier parts of the same rows among them, so the newest are kept, as the policy says.
    /// Whole, they could not fit beside the spool's own tables, and were dropped as the newest:
    /// `spool ingest` commits 1000 lines at a time, which at a 256 KiB bound is most of it.
    private func insertRows(_ rows: ArraySlice<PreparedRow>, now: Int64, outcome: inout Outcome) throws(SpoolError) {
        guard !rows.isEmpty else { return }
        let incoming = rows.reduce(Int64(0)) { $0 + Int64($1.byteCount) }
        let limit = min(maximumBytes ?? .max, bound.bytes)
        if policy == .dropOldest && rows.count > 1 && incoming > limit / 4 {
            var start = rows.startIndex
            var bytes: Int64 = 0
            for index in rows.indices {
                let size = Int64(rows[index].byteCount)
                if index > start && bytes + size > limit / 8 {
                    try insertPart(rows[start..<index], incoming: bytes, now: now, outcome: &outcome)
                    (start, bytes) = (index, 0)
                }
                bytes += size
            }
            try insertPart(rows[start...], incoming: bytes, now: now, outcome: &outcome)
            return
        }
        try insertPart(rows, incoming: incoming, now: now, outcome: &outcome)
    }

    /// Inserts `rows` (`incoming` bytes) after making room for them.
    private func insertPart(_ rows: ArraySlice<PreparedRow>, incoming: Int64, now: Int64, outcome: inout Outcome) throws(SpoolError) {
        if try !makeRoom(for: incoming, rows: rows.count, now: now, outcome: &outcome) {
            return
        }
        // SQLite assigns max(id) + 1, which is 1 only when the table was empty: then the first
        // row moves above id_floor (ids are never reused) and the rest follow it. The common
        // case costs no extra statement.
        try run(insert, binding: rows.prefix(1))
        var first = connection.lastInsertRowID
        if first == 1 { first = try moveFirstRowAboveFloor() }
        if outcome.firstID == nil { outcome.firstID = first }
        // The rest up to `rowsPerInsert` at a time: a group commit of eight callers is two
        // statements, not eight.
        var next = rows.index(after: rows.startIndex)
        while next < rows.endIndex {
            let count = min(rows.distance(from: next, to: rows.endIndex), Self.rowsPerInsert)
            try run(try insertStatement(rows: count), binding: rows[next..<(next + count)])
            next += count
        }
    }

    /// Rows per multi-row insert. One statement step per row costs about a fifth more than one
    /// per 16 rows (cursor opening and seeking to the end of the table each time); 16 × 6
    /// parameters stay far below SQLite 3.31's 999-parameter limit.
    static let rowsPerInsert = 16

    /// The insert statement for `rows` rows (1 to ``rowsPerInsert``).
    private func insertStatement(rows: Int) throws(SpoolError) -> Statement {
        if rows == 1 { return insert }
        if let statement = insertMany[rows] { return statement }
        let statement = try connection.prepare(Self.insertSQL(rows: rows), persistent: true)
        insertMany[rows] = statement
        return statement
    }

    /// `INSERT … VALUES (…), (…), …` for `rows` rows of the six columns ``run(_:binding:)`` fills.
    private static func insertSQL(rows: Int) -> String {
        "INSERT INTO entries (ts_ns, level, topic, message, context, schema) VALUES "
            + repeatElement("(?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// Binds `rows` to an insert statement for that many rows and runs it.
    ///
    /// The rows' text goes into ``arena`` first and is bound in place: one copy into memory
    /// the writer keeps, instead of SQLite copying each of the five text columns into an
    /// allocation of its own and freeing it at the reset (per row, five allocations fewer in
    /// the leader's critical section). The statement is reset before the arena is reused.
    private func run(_ statement: Statement, binding rows: ArraySlice<PreparedRow>) throws(SpoolError) {
        arena.clear(reserving: rows.reduce(0) { $0 + $1.textByteCount })
        for (slot, row) in rows.enumerated() {
            let base = Int32(slot) * 6
            statement.bind(base + 1, row.timestamp)
            statement.bindInPlace(base + 2, arena.copy(row.level.rawValue))
            statement.bindInPlace(base + 3, arena.copy(row.topic))
            statement.bindInPlace(base + 4, arena.copy(row.message))
            statement.bindInPlace(base + 5, row.context.map { arena.copy($0) })
            statement.bindInPlace(base + 6, arena.copy(row.schema))
        }
        try statement.run()
    }

    /// Memory for the text of one insert statement's rows (see ``run(_:binding:)``).
    private var arena = ByteArena()

    /// Row 1 was just assigned to an empty table: if ids up to id_floor were handed out before,
    /// give it id_floor + 1 instead.
    /// - Returns: the row's id now.
    private func moveFirstRowAboveFloor() throws(SpoolError) -> Int64 {
        let floor: Int64
        do {
            defer { idFloor.reset() }
            guard try idFloor.step() else { return 1 }
            floor = idFloor.int64(0)
        }
        guard floor >= 1 else { return 1 }
        moveFirstRow.bind(1, floor + 1)
        try moveFirstRow.run()
        return floor + 1
    }

    // MARK: - Deleting

    /// Deletes every entry with an id at or below `id` and raises id_floor so that no id is
    /// ever assigned again. The one way entries leave the table (acks, drops, sink removal).
    /// - Returns: the number of entries deleted.
    @discardableResult
    func deleteEntries(through id: Int64) throws(SpoolError) -> Int {
        let delete = try connection.prepare("DELETE FROM entries WHERE id <= ?")
        delete.bind(1, id)
        try delete.run()
        let deleted = connection.changes
        raiseFloor.bind(1, id)
        try raiseFloor.run()
        forgetCommitTimes.bind(1, id)
        try forgetCommitTimes.run()
        bytesSinceMeasure = Self.remeasureEvery  // the size estimate is stale now
        return deleted
    }

    /// Deletes what every registered sink has passed (nothing when no sink is registered).
    ///
    /// First, each sink's position moves over the entries right after it that are addressed to
    /// another sink (requeued dead letters, `entries.only_sink`): its claims never return them,
    /// so without this a sink whose backlog ends in such rows would hold them forever. The move
    /// stops before the sink's first own entry, so it never passes anything the sink has not
    /// acknowledged, in flight or not.
    ///
    /// Near a full disk (the last measure found the file system the tighter bound), at most
    /// `deleteChunkBytes` of entries go per call: a deletion writes pages it empties to the WAL
    /// (measured with Debian's `secure_delete = ON`, which writes every one: more than 1.4 MB of
    /// WAL for 3.5 MB of entries; with the store's FAST, fewer), which the disk may not have
    /// room for. What remains goes at the next acknowledgement, or when an append needs
    /// the room. Anywhere else everything passed goes at once, so a drained spool is empty.
    /// - Returns: the number of entries deleted.
    @discardableResult
    func deletePassedEntries() throws(SpoolError) -> Int {
        try skipEntriesForOtherSinks.run()
        guard let lowest = try connection.scalarInt("SELECT min(position) FROM sinks"),
              let oldest = try connection.scalarInt("SELECT min(id) FROM entries"), oldest <= lowest
        else { return 0 }
        guard bound.disk, let newest = try connection.scalarInt("SELECT max(id) FROM entries") else {
            return try deleteEntries(through: lowest)
        }
        // The average entry from the pages in use now: an estimate carried from earlier would
        // not have shrunk with the deletions, and the chunks would shrink with the table.
        let average = max(1, try usedBytes() / max(1, newest - oldest + 1))
        return try deleteEntries(through: min(lowest, oldest + max(1, deleteChunkBytes / average) - 1))
    }

    /// The most entry bytes one transaction deletes: a quarter of the WAL's reserve.
    var deleteChunkBytes: Int64 { walReserveBytes / 4 }

    /// A second row buffer that trades places with the waiting rows at each commit.
    private var spare: [PreparedRow] = []

    func takeSpareBuffer() -> [PreparedRow] {
        var buffer: [PreparedRow] = []
        swap(&buffer, &spare)
        return buffer
    }

    func returnSpareBuffer(_ buffer: consuming [PreparedRow]) {
        spare = buffer
        spare.removeAll(keepingCapacity: true)
    }

}

@available(*, unavailable)
extension Writer: Sendable {}
