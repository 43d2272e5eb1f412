import Foundation

/// A snapshot of a spool: what it holds, what each sink still has to send, what was lost.
package struct SpoolStats: Sendable, Codable, Hashable {
    /// Per-sink delivery state.
    package struct Sink: Sendable, Codable, Hashable {
        package var name: String
        /// Every entry with an id at or below this was delivered or dead-lettered.
        package var position: Int64
        /// Entries still to deliver.
        package var pending: Int64
        /// Seconds the oldest pending entry has waited since its commit (since its event time
        /// where the spool recorded no commit time), nil when nothing is pending.
        package var oldestPendingAgeSeconds: Double?
        package var delivered: Int64
        package var deadLettered: Int64
        package var leaseOwner: String?
        /// Unix nanoseconds at which the lease expires.
        package var leaseExpiresNanoseconds: Int64?
        /// The sink's books (schema 7 and later; nil on an older spool read without migrating).
        package var books: SinkBooks?
        /// Delivery latency, commit to acknowledgement (nil before the first sample).
        package var latency: LatencySummary?
    }

    /// The schema version of the file.
    package var schemaVersion: Int
    /// Entries stored.
    package var entries: Int64
    /// Bytes of topic, message and context stored.
    package var entryBytes: Int64
    package var oldestID: Int64?
    package var newestID: Int64?
    package var sinks: [Sink]
    /// Rows in `dead_letters`.
    package var deadLetters: Int64
    /// Entries dropped at the size bound, in total, and the number of drop events.
    package var droppedEntries: Int64
    package var dropEvents: Int64
    /// Size of the database file and of its WAL, in bytes.
    package var fileBytes: Int64
    package var walBytes: Int64
    /// Bytes the data occupies (used pages), which the size bound applies to.
    package var usedBytes: Int64
}

extension SpoolStore {
    /// Counts what the spool holds. It scans the entries table once (for the byte total).
    package func stats() throws(SpoolError) -> SpoolStats {
        let now = self.now
        return try reader.withLock { reader throws(SpoolError) -> SpoolStats in
            try SpoolStats.read(from: reader.connection, path: path, now: now)
        }
    }
}

extension SpoolStats {
    /// SQL for when the first entry after `position` (an SQL expression) began to wait: its
    /// commit time (`commit_times`, schema 7), else its event time. Lag is about delivery, so it
    /// counts from the commit: a backfill of last year's logs is not a year late, and an entry
    /// whose clock runs ahead does not hide a delay. `own` is the `only_sink` condition or "".
    static func pendingSinceSQL(after position: String, own: String, version: Int) -> String {
        guard version >= 7 else {
            return "(SELECT ts_ns FROM entries WHERE id > \(position)\(own) ORDER BY id LIMIT 1)"
        }
        return """
            (SELECT COALESCE((SELECT c.at_ns FROM commit_times AS c WHERE c.first_id <= e.id ORDER BY c.first_id DESC LIMIT 1), e.ts_ns)
               FROM entries AS e WHERE e.id > \(position)\(own) ORDER BY e.id LIMIT 1)
            """
    }

    static func read(from connection: Connection, path: String, now: Int64) throws(SpoolError) -> SpoolStats {
        try connection.transaction(immediate: false) { () throws(SpoolError) -> SpoolStats in
            let totals = try connection.prepare(
                "SELECT count(*), COALESCE(sum(length(CAST(topic AS BLOB)) + length(CAST(message AS BLOB)) + COALESCE(length(CAST(context AS BLOB)), 0)), 0), min(id), max(id) FROM entries")
            _ = try totals.step()
            var sinks: [Sink] = []
            // Entries addressed to one sink (schema 4, requeued dead letters) are pending for it only.
            let version = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
            let own = version >= 4 ? " AND (only_sink IS NULL OR only_sink = s.name)" : ""
            let perSink = try connection.prepare("""
                SELECT s.name, s.position,
                       (SELECT count(*) FROM entries WHERE id > s.position\(own)),
                       \(pendingSinceSQL(after: "s.position", own: own, version: version)),
                       s.delivered, s.dead_lettered, s.lease_owner, s.lease_expires_ns
                FROM sinks AS s ORDER BY s.name
                """)
            while try perSink.step() {
                let oldest = perSink.optionalInt64(3)
                sinks.append(Sink(
                    name: perSink.text(0) ?? "",
                    position: perSink.int64(1),
                    pending: perSink.int64(2),
                    oldestPendingAgeSeconds: oldest.map { UnixTime.seconds(nanoseconds: now &- $0) },
                    delivered: perSink.int64(4),
                    deadLettered: perSink.int64(5),
                    leaseOwner: perSink.text(6),
                    leaseExpiresNanoseconds: perSink.optionalInt64(7)))
            }
            let books = try SinkBooks.read(from: connection)
            let latency = try LatencySummary.read(from: connection)
            for index in sinks.indices {
                sinks[index].books = books[sinks[index].name]
                sinks[index].latency = latency[sinks[index].name]
            }
            let drops = try connection.prepare("SELECT COALESCE(sum(count), 0), count(*) FROM drops")
            _ = try drops.step()
            let pages = try connection.scalarInt("PRAGMA page_count") ?? 0
            let free = try connection.scalarInt("PRAGMA freelist_count") ?? 0
            let pageSize = try connection.scalarInt("PRAGMA page_size") ?? 4096
            return SpoolStats(
                schemaVersion: Int(try connection.scalarInt("PRAGMA user_version") ?? 0),
                entries: totals.int64(0),
                entryBytes: totals.int64(1),
                oldestID: totals.optionalInt64(2),
                newestID: totals.optionalInt64(3),
                sinks: sinks,
                deadLetters: try connection.scalarInt("SELECT count(*) FROM dead_letters") ?? 0,
                droppedEntries: drops.int64(0),
                dropEvents: drops.int64(1),
                fileBytes: fileSize(path),
                walBytes: fileSize(path + "-wal"),
                usedBytes: (pages - free) * pageSize)
        }
    }

    static func fileSize(_ path: String) -> Int64 {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        return (attributes?[.size] as? NSNumber)?.int64Value ?? 0
    }
}
