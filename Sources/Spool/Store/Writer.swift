import CSQLite

/// The spool's one writing connection in this process, with its hot statements prepared once.
/// It lives inside a `Mutex` in ``SpoolStore``: whoever holds the lock owns it.
final class Writer {
    let connection: Connection
    private let begin: Statement
    private let commit: Statement
    private let rollback: Statement
    private let insert: Statement
    private let moveFirstRow: Statement
    private let idFloor: Statement
    private let raiseFloor: Statement
    private let skipEntriesForOtherSinks: Statement

    let maximumBytes: Int64?
    let policy: SpoolStore.OverflowPolicy
    /// Estimate of the database's used bytes; measured exactly when it nears the bound.
    private var usedBytesEstimate: Int64 = 0
    private var bytesSinceMeasure: Int64 = 0
    private static let remeasureEvery: Int64 = 4 << 20

    init(connection: Connection, configuration: SpoolStore.Configuration) throws(SpoolError) {
        self.connection = connection
        begin = try connection.prepare("BEGIN IMMEDIATE", persistent: true)
        commit = try connection.prepare("COMMIT", persistent: true)
        rollback = try connection.prepare("ROLLBACK", persistent: true)
        insert = try connection.prepare(
            "INSERT INTO entries (id, ts_ns, level, topic, message, context, schema) VALUES (?, ?, ?, ?, ?, ?, ?)",
            persistent: true)
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
        maximumBytes = configuration.maximumBytes
        policy = configuration.overflowPolicy
        usedBytesEstimate = try measureUsedBytes()
    }

    /// What an insert did besides inserting: drops to report.
    struct Outcome {
        var inserted = 0
        var drops: [Drop] = []
    }

    struct Drop: Sendable {
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
            return result
        } catch {
            if connection.isInTransaction { try? rollback.run() }
            throw error
        }
    }

    // MARK: - Appending

    /// Inserts `rows` in one transaction, applying the size bound first.
    func insert(_ rows: [PreparedRow], now: Int64) throws(SpoolError) -> Outcome {
        let outcome = try transaction { () throws(SpoolError) -> Outcome in
            var outcome = Outcome()
            let incoming = rows.reduce(Int64(0)) { $0 + Int64($1.byteCount) }
            if let maximumBytes, try !makeRoom(for: incoming, rows: rows.count, maximum: maximumBytes, now: now, outcome: &outcome) {
                return outcome
            }
            // SQLite assigns max(id) + 1, which is 1 only when the table was empty: then the
            // first row moves above id_floor (ids are never reused) and the rest follow it.
            // The common case costs no extra statement.
            var first = true
            for row in rows {
                insert.bind(2, row.timestamp)
                insert.bind(3, row.level.rawValue)
                insert.bind(4, row.topic)
                insert.bind(5, row.message)
                insert.bind(6, row.context)
                insert.bind(7, row.schema)
                try insert.run()
                if first {
                    first = false
                    if connection.lastInsertRowID == 1 { try moveFirstRowAboveFloor() }
                }
            }
            outcome.inserted = rows.count
            return outcome
        }
        return outcome
    }

    /// Row 1 was just assigned to an empty table: if ids up to id_floor were handed out before,
    /// give it id_floor + 1 instead.
    private func moveFirstRowAboveFloor() throws(SpoolError) {
        let floor: Int64
        do {
            defer { idFloor.reset() }
            guard try idFloor.step() else { return }
            floor = idFloor.int64(0)
        }
        guard floor >= 1 else { return }
        moveFirstRow.bind(1, floor + 1)
        try moveFirstRow.run()
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
    func deletePassedEntries() throws(SpoolError) {
        try skipEntriesForOtherSinks.run()
        if let lowest = try connection.scalarInt("SELECT min(position) FROM sinks") {
            try deleteEntries(through: lowest)
        }
    }

    // MARK: - The size bound

    /// (page_count - freelist_count) * page_size: the pages the data occupies.
    func measureUsedBytes() throws(SpoolError) -> Int64 {
        let pages = try connection.scalarInt("PRAGMA page_count") ?? 0
        let free = try connection.scalarInt("PRAGMA freelist_count") ?? 0
        let size = try connection.scalarInt("PRAGMA page_size") ?? 4096
        bytesSinceMeasure = 0
        return (pages - free) * size
    }

    /// Frees room for `incoming` bytes under the bound, by the overflow policy.
    /// - Returns: false when the incoming rows must not be inserted (dropped by `dropNewest`).
    private func makeRoom(for incoming: Int64, rows: Int, maximum: Int64, now: Int64, outcome: inout Outcome) throws(SpoolError) -> Bool {
        bytesSinceMeasure += incoming
        if usedBytesEstimate + incoming <= maximum && bytesSinceMeasure < Self.remeasureEvery {
            usedBytesEstimate += incoming
            return true
        }
        var used = try measureUsedBytes()
        if used + incoming <= maximum {
            usedBytesEstimate = used + incoming
            return true
        }
        switch policy {
        case .reject:
            usedBytesEstimate = used
            throw SpoolError(.spoolFull, "the spool at \(connection.path) holds \(used) bytes of its \(maximum)-byte bound and its overflow policy is reject: new entries are refused until forwarding frees space")
        case .dropNewest:
            try record(Drop(reason: "overflow:dropNewest", count: rows, firstID: nil, lastID: nil, bytes: incoming), now: now, outcome: &outcome)
            usedBytesEstimate = used
            return false
        case .dropOldest:
            // Free down to 90% of the bound so drops come in chunks, not one per append.
            let target = maximum / 10 * 9 - incoming
            for _ in 0..<16 where used > target {
                guard let oldest = try connection.scalarInt("SELECT min(id) FROM entries"),
                      let newest = try connection.scalarInt("SELECT max(id) FROM entries")
                else { break }
                let average = max(1, used / max(1, newest - oldest + 1))
                let count = min(newest - oldest + 1, max(1, (used - target) / average + 1))
                let last = oldest + count - 1
                let deleted = try deleteEntries(through: last)
                try record(Drop(reason: "overflow:dropOldest", count: deleted, firstID: oldest, lastID: last, bytes: count * average), now: now, outcome: &outcome)
                used = try measureUsedBytes()
            }
            if used + incoming > maximum {
                // Nothing left to drop (the bound is taken by dead letters or one huge entry).
                try record(Drop(reason: "overflow:dropNewest", count: rows, firstID: nil, lastID: nil, bytes: incoming), now: now, outcome: &outcome)
                usedBytesEstimate = used
                return false
            }
            usedBytesEstimate = used + incoming
            return true
        }
    }

    private func record(_ drop: Drop, now: Int64, outcome: inout Outcome) throws(SpoolError) {
        let statement = try connection.prepare("INSERT INTO drops (at_ns, reason, count, first_id, last_id, bytes) VALUES (?, ?, ?, ?, ?, ?)")
        statement.bind(1, now)
        statement.bind(2, drop.reason)
        statement.bind(3, Int64(drop.count))
        statement.bind(4, drop.firstID)
        statement.bind(5, drop.lastID)
        statement.bind(6, drop.bytes)
        try statement.run()
        outcome.drops.append(drop)
    }

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
