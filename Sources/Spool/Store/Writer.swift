import CSQLite

/// The spool's one writing connection in this process, with its hot statements prepared once.
/// It lives inside a `Mutex` in ``SpoolStore``: whoever holds the lock owns it.
final class Writer {
    let connection: Connection
    private let begin: Statement
    private let commit: Statement
    private let rollback: Statement
    private let insert: Statement

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
            "INSERT INTO entries (ts_ns, level, topic, message, context, schema) VALUES (?, ?, ?, ?, ?, ?)",
            persistent: true)
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
            for row in rows {
                insert.bind(1, row.timestamp)
                insert.bind(2, row.level.rawValue)
                insert.bind(3, row.topic)
                insert.bind(4, row.message)
                insert.bind(5, row.context)
                insert.bind(6, row.schema)
                try insert.run()
            }
            outcome.inserted = rows.count
            return outcome
        }
        return outcome
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
                try connection.execute("DELETE FROM entries WHERE id <= \(last)")
                let deleted = connection.changes
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

    /// After deletions outside ``insert(_:now:)`` (acks), the estimate is stale.
    func noteDeletions() {
        bytesSinceMeasure = Self.remeasureEvery
    }
}

@available(*, unavailable)
extension Writer: Sendable {}
