/// What one acknowledgement recorded for its sink: the books' increments and the delivery
/// latencies of the entries it passed.
package struct Acknowledgement: Sendable, Hashable {
    /// Entries passed and counted as delivered.
    package var delivered: Int = 0
    /// Entries passed as dead letters.
    package var deadLettered: Int = 0
    /// The entry ids stored as dead letters: those of the caller's still stored and passed
    /// (one dropped at the size bound while its batch was out is counted as dropped instead).
    package var deadLetterIDs: [Int64] = []
    /// Entries the destination said it dropped (OTLP partial success).
    package var dropped: Int = 0
    /// Delivery latencies of the entries passed, as (latency, how many entries had it), one per
    /// commit group. Entries committed before schema 7 have none.
    package var latencies: [LatencySample] = []

    /// Entries sharing one commit time, and how long after that commit they were acknowledged.
    package struct LatencySample: Sendable, Hashable {
        package var nanoseconds: Int64
        package var count: Int
    }
}

/// A sink's books: what it accepted and where each accepted entry is now. They balance,
/// `accepted == delivered + deadLettered + dropped + pending`, at every committed state.
package struct SinkBooks: Sendable, Codable, Hashable {
    /// Entries accepted while the sink was registered (every entry stored from the position it
    /// was registered at on, not addressed to another sink; a requeued dead letter is accepted
    /// again). For a sink that existed before schema 7, what it had delivered, dead-lettered and
    /// pending then, plus what came after.
    package var accepted: Int64
    package var delivered: Int64
    package var deadLettered: Int64
    /// Removed before the sink passed them (the size bound, the disk's bound), or dropped by the
    /// destination after accepting a request (OTLP partial success).
    package var dropped: Int64
    package var pending: Int64

    package var balances: Bool { accepted == delivered + deadLettered + dropped + pending }

    private enum Keys: String, CodingKey { case accepted, delivered, deadLettered, dropped, pending, balances }

    /// The fields and `balances`, so a reader of `spool stats --json` need not add them up.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(accepted, forKey: .accepted)
        try container.encode(delivered, forKey: .delivered)
        try container.encode(deadLettered, forKey: .deadLettered)
        try container.encode(dropped, forKey: .dropped)
        try container.encode(pending, forKey: .pending)
        try container.encode(balances, forKey: .balances)
    }
}

/// A sink's delivery latency: commit to the acknowledgement that passed the entry, from the
/// persisted histogram. Quantiles are the upper bound of the bucket that holds them (never
/// more than the maximum).
package struct LatencySummary: Sendable, Codable, Hashable {
    /// Entries with a latency sample.
    package var count: Int64
    package var p50Seconds: Double
    package var p99Seconds: Double
    package var maxSeconds: Double
}

/// The persisted latency histogram's buckets.
package enum LatencyBuckets {
    /// Upper bounds in nanoseconds; the last bucket is +Inf (`Int64.max`).
    static let bounds: [Int64] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400,
    ].map { Int64($0 * 1e9) } + [Int64.max]

    static func bound(for nanoseconds: Int64) -> Int64 {
        bounds.first { nanoseconds <= $0 } ?? Int64.max
    }

    /// The quantile `q` of a histogram given as (bound, count) in bound order.
    static func quantile(_ q: Double, of buckets: [(bound: Int64, count: Int64)], maximum: Int64) -> Int64 {
        let total = buckets.reduce(0) { $0 + $1.count }
        guard total > 0 else { return 0 }
        let rank = max(1, Int64((Double(total) * q).rounded(.up)))
        var seen: Int64 = 0
        for bucket in buckets {
            seen += bucket.count
            if seen >= rank { return min(bucket.bound, maximum) }
        }
        return maximum
    }
}

extension Writer {
    // MARK: - Books

    /// Settles `sink`'s books for an acknowledgement through `through`, inside the open
    /// transaction: counts what the position passes from `position` on, straight from the
    /// entries (so an entry dropped at the bound after it was claimed is counted once, as a
    /// drop), records the latency samples in the sink's histogram, and advances the position.
    func settle(
        sink: String, position: Int64, through: Int64, deadLettered: Int, droppedByDestination: Int, now: Int64
    ) throws(SpoolError) -> Acknowledgement {
        var result = Acknowledgement()
        var passed = 0
        if through > position {
            let groups = try connection.prepare("""
                WITH g AS (
                    SELECT first_id, at_ns, lead(first_id) OVER (ORDER BY first_id) AS next_id FROM commit_times
                    WHERE first_id >= COALESCE((SELECT max(first_id) FROM commit_times WHERE first_id <= ?1 + 1), 0)
                      AND first_id <= ?2)
                SELECT at_ns, first_id, (SELECT count(*) FROM entries
                               WHERE id > max(?1, first_id - 1) AND id <= min(?2, COALESCE(next_id - 1, ?2))
                                 AND (only_sink IS NULL OR only_sink = ?3))
                FROM g
                """)
            groups.bind(1, position)
            groups.bind(2, through)
            groups.bind(3, sink)
            // The groups cover (max(position, first group's first id - 1), through] without a
            // gap; what lies before the first group (entries committed before schema 7, whose
            // commit times were never written) is counted on its own. Usually nothing does, and
            // the range is read once, not twice (a second count of the whole range cost a
            // drain ~8 % more CPU).
            var coveredFrom = through + 1
            while try groups.step() {
                coveredFrom = min(coveredFrom, max(position + 1, groups.int64(1)))
                let count = Int(groups.int64(2))
                passed += count
                guard count > 0 else { continue }
                result.latencies.append(.init(nanoseconds: max(0, now &- groups.int64(0)), count: count))
            }
            groups.reset()
            if coveredFrom > position + 1 {
                let uncovered = try connection.prepare(
                    "SELECT count(*) FROM entries WHERE id > ?1 AND id < ?2 AND (only_sink IS NULL OR only_sink = ?3)")
                uncovered.bind(1, position)
                uncovered.bind(2, coveredFrom)
                uncovered.bind(3, sink)
                _ = try uncovered.step()
                passed += Int(uncovered.int64(0))
                uncovered.reset()
            }
        }
        result.deadLettered = min(deadLettered, passed)
        result.dropped = min(droppedByDestination, passed - result.deadLettered)
        result.delivered = passed - result.deadLettered - result.dropped
        var histogram: [Int64: Int] = [:]
        for sample in result.latencies { histogram[LatencyBuckets.bound(for: sample.nanoseconds), default: 0] += sample.count }
        if !histogram.isEmpty {
            let bucket = try connection.prepare("""
                INSERT INTO delivery_latency (sink, le_ns, count) VALUES (?, ?, ?)
                ON CONFLICT (sink, le_ns) DO UPDATE SET count = count + excluded.count
                """)
            for (bound, count) in histogram.sorted(by: { $0.key < $1.key }) {
                bucket.bind(1, sink)
                bucket.bind(2, bound)
                bucket.bind(3, Int64(count))
                try bucket.run()
            }
        }
        let advance = try connection.prepare("""
            UPDATE sinks SET position = max(position, ?1), delivered = delivered + ?2, dead_lettered = dead_lettered + ?3,
                             dropped = dropped + ?4, latency_max_ns = max(COALESCE(latency_max_ns, ?5), COALESCE(?5, latency_max_ns))
            WHERE name = ?6
            """)
        advance.bind(1, through)
        advance.bind(2, Int64(result.delivered))
        advance.bind(3, Int64(result.deadLettered))
        advance.bind(4, Int64(result.dropped))
        advance.bind(5, result.latencies.map(\.nanoseconds).max())
        advance.bind(6, sink)
        try advance.run()
        return result
    }

    /// Before entries up to `id` are dropped (deleted without every sink passing them): counts
    /// them as dropped for each sink that had not passed them, in the same transaction.
    func countDropped(through id: Int64) throws(SpoolError) {
        let statement = try connection.prepare("""
            UPDATE sinks SET dropped = dropped + (SELECT count(*) FROM entries
                WHERE id > sinks.position AND id <= ?1 AND (only_sink IS NULL OR only_sink = sinks.name))
            WHERE position < ?1
            """)
        statement.bind(1, id)
        try statement.run()
    }
}

extension SinkBooks {
    /// The books of every sink, by name, read inside the caller's transaction; empty before
    /// schema 7 (a spool not migrated yet has none).
    static func read(from connection: Connection) throws(SpoolError) -> [String: SinkBooks] {
        guard (try connection.scalarInt("PRAGMA user_version") ?? 0) >= 7 else { return [:] }
        let statement = try connection.prepare("SELECT sink, accepted, delivered, dead_lettered, dropped, pending FROM sink_books")
        var books: [String: SinkBooks] = [:]
        while try statement.step() {
            books[statement.text(0) ?? ""] = SinkBooks(
                accepted: statement.int64(1), delivered: statement.int64(2), deadLettered: statement.int64(3),
                dropped: statement.int64(4), pending: statement.int64(5))
        }
        return books
    }
}

extension LatencySummary {
    /// Every sink's latency summary, by name, read inside the caller's transaction (sinks
    /// without a sample have none).
    static func read(from connection: Connection) throws(SpoolError) -> [String: LatencySummary] {
        guard (try connection.scalarInt("PRAGMA user_version") ?? 0) >= 7 else { return [:] }
        let statement = try connection.prepare("""
            SELECT d.sink, d.le_ns, d.count, s.latency_max_ns FROM delivery_latency AS d JOIN sinks AS s ON s.name = d.sink
            ORDER BY d.sink, d.le_ns
            """)
        var buckets: [String: (maximum: Int64, buckets: [(bound: Int64, count: Int64)])] = [:]
        while try statement.step() {
            let sink = statement.text(0) ?? ""
            buckets[sink, default: (statement.optionalInt64(3) ?? 0, [])].buckets.append((statement.int64(1), statement.int64(2)))
        }
        return buckets.mapValues { entry in
            let seconds = { (ns: Int64) in Double(ns) / 1e9 }
            return LatencySummary(
                count: entry.buckets.reduce(0) { $0 + $1.count },
                p50Seconds: seconds(LatencyBuckets.quantile(0.5, of: entry.buckets, maximum: entry.maximum)),
                p99Seconds: seconds(LatencyBuckets.quantile(0.99, of: entry.buckets, maximum: entry.maximum)),
                maxSeconds: seconds(entry.maximum))
        }
    }
}
