/// A row of `dead_letters`: an entry a destination rejected for good, with what it said.
package struct DeadLetterRecord: Sendable, Hashable, Codable {
    /// The dead letter's own id (`dead_letters.id`), what `spool dlq --id` selects.
    package var id: Int64
    /// The sink whose destination rejected the entry.
    package var sink: String
    /// The rejected entry as it was in the spool, with its original id.
    package var entryID: Int64
    /// Event time of the entry, Unix nanoseconds.
    package var timestamp: Int64
    /// The entry's level.
    package var level: LogLevel
    /// The entry's topic.
    package var topic: String
    /// The entry's message.
    package var message: String
    /// The entry's context, a JSON object as text, or nil.
    package var contextJSON: String?
    /// The entry's payload schema.
    package var schema: String
    /// The HTTP status, or nil when the failure was not an HTTP response.
    package var status: Int?
    /// Why: a bounded excerpt of the response.
    package var reason: String
    /// How many times it was sent.
    package var attempts: Int
    /// When it was dead-lettered, Unix nanoseconds.
    package var failedNanoseconds: Int64

    init(_ row: Statement) {
        id = row.int64(0)
        sink = row.text(1) ?? ""
        entryID = row.int64(2)
        timestamp = row.int64(3)
        level = LogLevel(rawValue: row.text(4) ?? "") ?? .info
        topic = row.text(5) ?? ""
        message = row.text(6) ?? ""
        contextJSON = row.text(7)
        schema = row.text(8) ?? LogEntry.currentSchema
        status = row.optionalInt64(9).map { Int($0) }
        reason = row.text(10) ?? ""
        attempts = Int(row.int64(11))
        failedNanoseconds = row.int64(12)
    }

    /// The original entry, with its original spool id.
    package var entry: StoredEntry {
        StoredEntry(id: entryID, timestamp: timestamp, level: level, topic: topic, message: message, contextJSON: contextJSON, schema: schema)
    }

    /// One JSON line: the entry in the one entry shape (``EntryJSON``, `id` is the original
    /// entry id) plus `"dead_letter":{"id","sink","status","reason","attempts","failed","failed_ns"}`.
    package var jsonLine: String {
        var line = EntryJSON.line(entry)
        line.removeLast()  // the closing brace
        line += ",\"dead_letter\":{\"id\":\(id),\"sink\":"
        JSON.writeString(sink, to: &line)
        line += ",\"status\":" + (status.map(String.init) ?? "null") + ",\"reason\":"
        JSON.writeString(reason, to: &line)
        line += ",\"attempts\":\(attempts),\"failed\":\"\(UnixTime.iso8601(nanoseconds: failedNanoseconds))\",\"failed_ns\":\(failedNanoseconds)}}"
        return line
    }
}

/// Which dead letters `list`, `requeue`, `purge` and `export --dead-letters` act on. Every
/// condition left empty matches everything.
package struct DeadLetterFilter: Sendable, Hashable {
    /// Only the dead letters of this sink.
    package var sink: String?
    /// Only these dead letter ids (`dead_letters.id`).
    package var ids: [Int64]
    /// Only those with this HTTP status.
    package var status: Int?
    /// Only those whose entry's event time is at or after this (Unix nanoseconds).
    package var since: Int64?
    /// Only those whose entry's event time is before this (Unix nanoseconds).
    package var until: Int64?

    /// Creates a filter; the defaults match every dead letter.
    package init(sink: String? = nil, ids: [Int64] = [], status: Int? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.sink = sink
        self.ids = ids
        self.status = status
        self.since = since
        self.until = until
    }

    /// The WHERE clause over `dead_letters` and a binder for its parameters, from index 1.
    func sql() -> (String, (Statement) -> Void) {
        var clauses = ["1"]
        var binders: [(Statement, Int32) -> Void] = []
        if let sink {
            clauses.append("sink = ?")
            binders.append { $0.bind($1, sink) }
        }
        if !ids.isEmpty {
            clauses.append("id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            for id in ids { binders.append { $0.bind($1, id) } }
        }
        if let status {
            clauses.append("status = ?")
            binders.append { $0.bind($1, Int64(status)) }
        }
        if let since {
            clauses.append("ts_ns >= ?")
            binders.append { $0.bind($1, since) }
        }
        if let until {
            clauses.append("ts_ns < ?")
            binders.append { $0.bind($1, until) }
        }
        return (clauses.joined(separator: " AND "), { statement in
            for (offset, binder) in binders.enumerated() { binder(statement, Int32(offset + 1)) }
        })
    }
}

extension SpoolStore {
    // MARK: - Requeue

    /// Puts dead letters back in the spool for the sink that rejected each of them, and removes
    /// them from `dead_letters`, in one transaction.
    ///
    /// Each dead letter becomes a new entry (a new id after every existing one; the original
    /// event time, level, topic, message, context and schema) addressed to its sink only
    /// (`entries.only_sink`). They are inserted in their original order, so the sink receives
    /// them once, in that order, after what it already had pending. Every other sink passed the
    /// originals already: its claims skip the addressed rows and its position moves over them,
    /// so it never receives them again. The rows are deleted like any entry, once every sink's
    /// position has passed them.
    ///
    /// ```swift
    /// let requeued = try spool.requeueDeadLetters(matching: DeadLetterFilter(sink: "loki", status: 400))
    /// ```
    ///
    /// - Parameter filter: Which dead letters.
    /// - Returns: The new entry ids, in order (empty when nothing matched).
    /// - Throws: ``SpoolError``: `.unknownSink` when a selected dead letter belongs to a sink
    ///   that is no longer registered (nothing changes then: register the sink or purge them).
    @discardableResult
    package func requeueDeadLetters(matching filter: DeadLetterFilter) throws(SpoolError) -> [Int64] {
        defer { checkpointIfDue() }
        return try writer.withLock { writer throws(SpoolError) -> [Int64] in
            try writer.transaction { () throws(SpoolError) -> [Int64] in
                let (clause, bind) = filter.sql()
                let connection = writer.connection
                let orphans = try connection.prepare("""
                    SELECT DISTINCT sink FROM dead_letters
                    WHERE \(clause) AND sink NOT IN (SELECT name FROM sinks) ORDER BY sink
                    """)
                bind(orphans)
                if try orphans.step() {
                    throw SpoolError(.unknownSink, "dead letters of sink '\(orphans.text(0) ?? "")' cannot be requeued: no sink of that name is registered in \(path) (run `spool forward` for it once, or purge them)")
                }
                var next = try connection.scalarInt("""
                    SELECT max(COALESCE((SELECT max(id) FROM entries), 0), (SELECT value FROM meta WHERE key = 'id_floor')) + 1
                    """) ?? 1
                let selected = try connection.prepare("SELECT id FROM dead_letters WHERE \(clause) ORDER BY entry_id, id")
                bind(selected)
                var letters: [Int64] = []
                while try selected.step() { letters.append(selected.int64(0)) }
                let copy = try connection.prepare("""
                    INSERT INTO entries (id, ts_ns, level, topic, message, context, schema, only_sink)
                    SELECT ?, ts_ns, level, topic, message, context, schema, sink FROM dead_letters WHERE id = ?
                    """)
                let remove = try connection.prepare("DELETE FROM dead_letters WHERE id = ?")
                var ids: [Int64] = []
                var perSink: [String: Int64] = [:]
                let target = try connection.prepare("SELECT sink FROM dead_letters WHERE id = ?")
                for letter in letters {
                    target.bind(1, letter)
                    if try target.step() { perSink[target.text(0) ?? "", default: 0] += 1 }
                    target.reset()
                    copy.bind(1, next)
                    copy.bind(2, letter)
                    try copy.run()
                    remove.bind(1, letter)
                    try remove.run()
                    ids.append(next)
                    next += 1
                }
                if let first = ids.first {
                    // Their commit time is now, and for every other sink they are not its own.
                    try writer.recordCommitTime(firstID: first, now: self.now)
                    let skip = try connection.prepare("UPDATE sinks SET skipped = skipped + ? WHERE name != ?")
                    for (sink, count) in perSink {
                        skip.bind(1, count)
                        skip.bind(2, sink)
                        try skip.run()
                    }
                }
                // Sinks with nothing of their own before the new rows move over them now.
                try writer.deletePassedEntries()
                return ids
            }
        }
    }

    // MARK: - Purge

    /// Deletes dead letters for good.
    /// - Parameter filter: Which dead letters.
    /// - Returns: How many were deleted.
    @discardableResult
    package func purgeDeadLetters(matching filter: DeadLetterFilter) throws(SpoolError) -> Int {
        try writer.withLock { writer throws(SpoolError) -> Int in
            try writer.transaction { () throws(SpoolError) -> Int in
                let (clause, bind) = filter.sql()
                let statement = try writer.connection.prepare("DELETE FROM dead_letters WHERE \(clause)")
                bind(statement)
                try statement.run()
                return writer.connection.changes
            }
        }
    }
}
