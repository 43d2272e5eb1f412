/// One persisted counter: how many entries of one level and topic a sink has counted.
package struct EntryCounter: Sendable, Hashable {
    /// The entries' level.
    package var level: LogLevel
    /// The entries' topic, as stored.
    package var topic: String
    /// How many, since the spool was created (a restart does not reset it).
    package var value: Int64

    /// Creates a counter value (the store makes them; tests and encoders take them).
    package init(level: LogLevel, topic: String, value: Int64) {
        self.level = level
        self.topic = topic
        self.value = value
    }
}

extension SpoolStore {
    // MARK: - Counters (aggregating sinks)

    /// Adds the entries after the sink's counting mark, up to `through`, to the sink's
    /// persisted counters (per level and topic), and moves the mark to `through`. One
    /// transaction: the counts and the mark change together or not at all.
    ///
    /// Counting is idempotent and order-independent: the range counted is
    /// `(max(mark, position), through]`, read from the `entries` table, so a batch counted
    /// again (a retry, a split, a batch claimed again after a crash between counting and
    /// acknowledging) adds nothing, and pipelined batches counted out of order lose nothing
    /// (a later batch counts the earlier one's entries, which stay in the spool until this sink
    /// acknowledges them). Entries dropped at the size bound before they were counted are not
    /// counted; they are in `drops`.
    ///
    /// - Parameters:
    ///   - sink: A registered sink's name: the counters' owner.
    ///   - through: The highest entry id to count (a claimed batch's last id).
    /// - Returns: how many entries were added now (0 when all were counted before).
    /// - Throws: ``SpoolError``: `.unknownSink`, or a SQLite failure (nothing changed then).
    @discardableResult
    package func count(sink: String, through: Int64) throws(SpoolError) -> Int {
        try writer.withLock { writer throws(SpoolError) -> Int in
            try writer.transaction { () throws(SpoolError) -> Int in
                let connection = writer.connection
                let bounds = try connection.prepare("""
                    SELECT max(s.position, COALESCE(m.counted_through, s.position))
                    FROM sinks AS s LEFT JOIN counter_marks AS m ON m.sink = s.name
                    WHERE s.name = ?
                    """)
                bounds.bind(1, sink)
                guard try bounds.step() else { throw unknownSink(sink) }
                let after = bounds.int64(0)
                bounds.reset()
                guard through > after else { return 0 }
                let add = try connection.prepare("""
                    INSERT INTO counters (sink, level, topic, value)
                    SELECT ?1, level, topic, count(*) FROM entries
                    WHERE id > ?2 AND id <= ?3 AND (only_sink IS NULL OR only_sink = ?1) GROUP BY level, topic
                    ON CONFLICT (sink, level, topic) DO UPDATE SET value = value + excluded.value
                    """)
                add.bind(1, sink)
                add.bind(2, after)
                add.bind(3, through)
                try add.run()
                let added = try connection.prepare("SELECT count(*) FROM entries WHERE id > ? AND id <= ? AND (only_sink IS NULL OR only_sink = ?)")
                added.bind(1, after)
                added.bind(2, through)
                added.bind(3, sink)
                _ = try added.step()
                let count = Int(added.int64(0))
                added.reset()
                let mark = try connection.prepare("""
                    INSERT INTO counter_marks (sink, counted_through) VALUES (?, ?)
                    ON CONFLICT (sink) DO UPDATE SET counted_through = max(counted_through, excluded.counted_through)
                    """)
                mark.bind(1, sink)
                mark.bind(2, through)
                try mark.run()
                return count
            }
        }
    }

    /// The sink's persisted counters, ordered by level (trace first) then topic.
    package func counters(sink: String) throws(SpoolError) -> [EntryCounter] {
        let counters = try reader.withLock { reader throws(SpoolError) -> [EntryCounter] in
            let statement = try reader.connection.prepare("SELECT level, topic, value FROM counters WHERE sink = ? ORDER BY topic")
            statement.bind(1, sink)
            var counters: [EntryCounter] = []
            while try statement.step() {
                // A level outside the seven can only come from a hand edit: skip it.
                guard let level = LogLevel(rawValue: statement.text(0) ?? "") else { continue }
                counters.append(EntryCounter(level: level, topic: statement.text(1) ?? "", value: statement.int64(2)))
            }
            return counters
        }
        return counters.sorted { ($0.level, $0.topic) < ($1.level, $1.topic) }
    }

    /// The highest entry id counted for `sink`, or nil before its first count.
    package func countedThrough(sink: String) throws(SpoolError) -> Int64? {
        try reader.withLock { reader throws(SpoolError) -> Int64? in
            let statement = try reader.connection.prepare("SELECT counted_through FROM counter_marks WHERE sink = ?")
            statement.bind(1, sink)
            return try statement.step() ? statement.int64(0) : nil
        }
    }
}
