import Foundation

/// Reads a spool file from outside without changing it: `spool tail`, `spool export` and
/// `spool dlq list`.
///
/// The file is opened read-only: never created, recovered or migrated, and no lease is taken,
/// so an inspector can watch a spool that an app and a forwarder are writing. Rows are read in
/// short chunks and handed over between them, so exporting a large spool neither loads it into
/// memory nor holds a snapshot that would pin the WAL while the output is read slowly.
///
/// ```swift
/// let inspector = try SpoolInspector(path: "app.spool")
/// for entry in try inspector.lastEntries(10, matching: EntryFilter(minimumLevel: .warning)) {
///     print(EntryJSON.line(entry))
/// }
/// ```
///
/// One owner: an inspector holds a SQLite connection, which must not cross threads.
package final class SpoolInspector {
    /// The spool file's path.
    package let path: String
    private let connection: Connection
    /// Whether the file has `entries.only_sink` (schema 4): older spools have no addressed rows.
    private let hasAddressedEntries: Bool

    /// Opens an existing spool read-only.
    /// - Parameter path: The spool file; it is not created when missing.
    /// - Throws: ``SpoolError``: `.io` for a missing file or a directory, `.notASpool`,
    ///   `.corrupt`, `.newerSchema`.
    package init(path: String) throws(SpoolError) {
        self.path = path
        connection = try SpoolStore.openExisting(path, readOnly: true)
        SpoolFile.applyBusyTimeout(connection, .seconds(5))
        guard case .spool(let version) = try SpoolFile.inspectForReading(connection) else {
            throw SpoolError(.notASpool, "\(path) holds no spool yet (an empty file or database)")
        }
        hasAddressedEntries = version >= 4
    }

    /// Checks the file's structure (`PRAGMA quick_check`) before a walk that must miss nothing.
    /// A damaged interior page can send a seek past entries that are still readable without any
    /// error: `spool export` of a spool with 64 bytes of one such page overwritten handed over
    /// 190,102 of 200,000 entries and exited 0. Reads every page once (about 0.4 s for 400 MB
    /// in the page cache).
    /// - Parameter doing: what would not be done, for the message (`exported`).
    /// - Throws: ``SpoolError`` `.corrupt`, naming the repair.
    package func verify(doing: String) throws(SpoolError) {
        do throws(SpoolError) {
            try SpoolFile.verify(connection)
        } catch where error.code == .corrupt {
            throw SpoolError(.corrupt, "\(error.message); nothing was \(doing): run `spool check --repair --spool \(path)`", sqliteCode: error.sqliteCode)
        }
    }

    // MARK: - Entries

    /// The last `count` entries matching `filter`, oldest first.
    package func lastEntries(_ count: Int, matching filter: EntryFilter) throws(SpoolError) -> [StoredEntry] {
        let (clause, bind) = try conditions(filter)
        let statement = try connection.prepare("""
            SELECT * FROM (SELECT id, ts_ns, level, topic, message, context, schema FROM entries
                           WHERE \(clause) ORDER BY id DESC LIMIT ?) ORDER BY id
            """)
        let next = bind(statement, 1)
        statement.bind(next, Int64(max(0, count)))
        var entries: [StoredEntry] = []
        while try statement.step() { entries.append(Self.entry(statement)) }
        return entries
    }

    /// Calls `body` with every entry matching `filter` whose id is above `id` and at most the
    /// newest id when the call began, in id order.
    ///
    /// Rows are read in short chunks (ids in windows of ``chunkIDs``, at most ``chunkRows`` rows
    /// or ``chunkBytes`` of text each), and `body` runs between chunks, never while SQLite holds
    /// a snapshot: a consumer that reads slowly (`spool export | slow-program`) does not pin the
    /// WAL, which would keep every checkpoint from starting it over. Entries acknowledged and
    /// deleted meanwhile are not handed over.
    /// - Returns: The highest id looked at: the last entry handed over, or the newest id when the
    ///   call began if no later entry matched (`id` when there was nothing after it).
    /// - Throws: ``SpoolError`` from SQLite, or what `body` threw (which stops the walk).
    @discardableResult
    package func forEachEntry(after id: Int64 = 0, matching filter: EntryFilter, _ body: (StoredEntry) throws -> Void) throws -> Int64 {
        let (clause, bind) = try conditions(filter)
        guard let newest = try connection.scalarInt("SELECT max(id) FROM entries"), newest > id else { return id }
        let statement = try connection.prepare("""
            SELECT id, ts_ns, level, topic, message, context, schema FROM entries
            WHERE id > ? AND id <= ? AND \(clause) ORDER BY id
            """)
        let nextID = try connection.prepare("SELECT min(id) FROM entries WHERE id > ?")
        var last = id
        var chunk: [StoredEntry] = []
        while last < newest {
            // Ids are dense except where entries were deleted: skip straight to the next one.
            nextID.bind(1, last)
            let next = try nextID.step() && !nextID.isNull(0) ? nextID.int64(0) : nil
            nextID.reset()
            guard let next, next <= newest else { break }
            let windowEnd = min(newest, next &+ Self.chunkIDs - 1)
            statement.bind(1, next - 1)
            statement.bind(2, windowEnd)
            _ = bind(statement, 3)
            var bytes = 0
            var full = false
            do {
                defer { statement.reset() }
                while try statement.step() {
                    let entry = Self.entry(statement)
                    bytes += entry.message.utf8.count + (entry.contextJSON?.utf8.count ?? 0) + entry.topic.utf8.count
                    chunk.append(entry)
                    if chunk.count >= Self.chunkRows || bytes >= Self.chunkBytes { full = true; break }
                }
            }
            // The statement is reset: no snapshot is held while the rows are handed over.
            last = full ? chunk[chunk.count - 1].id : windowEnd
            for entry in chunk { try body(entry) }
            chunk.removeAll(keepingCapacity: true)
        }
        return last
    }

    /// A reading chunk's bounds: ids per window, rows and bytes of text per chunk.
    static let chunkIDs: Int64 = 4096
    static let chunkRows = 1000
    static let chunkBytes = 4 << 20

    /// The last `count` entries matching `filter`, and the id to follow from (`tail -f`): the
    /// newest id when the call began, or the last entry returned if that is newer (an entry
    /// appended between the two reads). Following after it never returns an entry twice.
    /// - Parameter betweenReads: runs between reading the newest id and the entries (tests).
    package func lastEntriesToFollow(_ count: Int, matching filter: EntryFilter,
                                    betweenReads: () throws -> Void = {}) throws -> (entries: [StoredEntry], followAfter: Int64) {
        let newest = try newestID()
        try betweenReads()
        let entries = try lastEntries(count, matching: filter)
        return (entries, max(newest, entries.last?.id ?? newest))
    }

    /// The highest entry id in the spool, or the highest ever deleted when it is empty.
    package func newestID() throws(SpoolError) -> Int64 {
        try connection.scalarInt("SELECT max(COALESCE((SELECT max(id) FROM entries), 0), (SELECT value FROM meta WHERE key = 'id_floor'))") ?? 0
    }

    /// The sink's delivery position.
    /// - Throws: `.unknownSink` when no sink of that name is registered.
    package func position(of sink: String) throws(SpoolError) -> Int64 {
        let statement = try connection.prepare("SELECT position FROM sinks WHERE name = ?")
        statement.bind(1, sink)
        guard try statement.step() else {
            throw SpoolError(.unknownSink, "no sink named '\(sink)' is registered in \(path)")
        }
        return statement.int64(0)
    }

    // MARK: - Dead letters

    /// Refuses a dead-letter selection that names what the spool does not have: a sink that is
    /// neither registered nor the sink of any dead letter, or dead letter ids that do not exist.
    /// A typo in a script (`spool dlq requeue --sink lokki`) is then an error, not "nothing
    /// matched" with exit 0.
    /// - Throws: `.unknownSink` or `.invalidArgument`, naming what exists.
    package func checkDeadLetterSelection(sink: String?, ids: [Int64]) throws(SpoolError) {
        if let sink {
            let known = try connection.prepare("SELECT EXISTS (SELECT 1 FROM sinks WHERE name = ?1) OR EXISTS (SELECT 1 FROM dead_letters WHERE sink = ?1)")
            known.bind(1, sink)
            let isKnown = try known.step() && known.int64(0) != 0
            known.reset()
            if !isKnown {
                let names = try connection.prepare("SELECT name FROM sinks UNION SELECT sink FROM dead_letters ORDER BY 1")
                var sinks: [String] = []
                while try names.step() { sinks.append(names.text(0) ?? "?") }
                throw SpoolError(.unknownSink, "no sink named '\(sink)' in \(path), and no dead letters of one (" + (sinks.isEmpty ? "no sinks" : "sinks: " + sinks.joined(separator: ", ")) + ")")
            }
        }
        let exists = try connection.prepare("SELECT 1 FROM dead_letters WHERE id = ?")
        var missing: [Int64] = []
        for id in ids {
            exists.bind(1, id)
            if try !exists.step() { missing.append(id) }
            exists.reset()
        }
        if !missing.isEmpty {
            throw SpoolError(.invalidArgument, "no dead letter with id \(missing.map(String.init).joined(separator: ", ")) in \(path) (`spool dlq list` shows the ids in its first column)")
        }
    }

    /// Calls `body` with every dead letter matching `filter`, by sink and original order, read in
    /// chunks of ``chunkRows`` rows (at most ``chunkBytes`` of text) with no snapshot held while
    /// `body` runs (see ``forEachEntry(after:matching:_:)``).
    /// - Throws: ``SpoolError`` from SQLite, or what `body` threw (which stops the walk).
    package func forEachDeadLetter(matching filter: DeadLetterFilter, _ body: (DeadLetterRecord) throws -> Void) throws {
        let (clause, bind) = filter.sql()
        // The chunk's start as a row value after the filter's own parameters (numbered apart).
        let statement = try connection.prepare("""
            SELECT id, sink, entry_id, ts_ns, level, topic, message, context, schema, status, reason, attempts, failed_ns
            FROM dead_letters WHERE \(clause) AND (sink, entry_id, id) > (?901, ?902, ?903) ORDER BY sink, entry_id, id
            """)
        var after: (sink: String, entryID: Int64, id: Int64) = ("", .min, .min)
        var chunk: [DeadLetterRecord] = []
        while true {
            bind(statement)
            statement.bind(901, after.sink)
            statement.bind(902, after.entryID)
            statement.bind(903, after.id)
            var bytes = 0
            do {
                defer { statement.reset() }
                while try statement.step() {
                    let letter = DeadLetterRecord(statement)
                    bytes += letter.message.utf8.count + (letter.contextJSON?.utf8.count ?? 0) + letter.reason.utf8.count
                    chunk.append(letter)
                    if chunk.count >= Self.chunkRows || bytes >= Self.chunkBytes { break }
                }
            }
            guard let last = chunk.last else { return }
            after = (last.sink, last.entryID, last.id)
            for letter in chunk { try body(letter) }
            chunk.removeAll(keepingCapacity: true)
        }
    }

    // MARK: - Helpers

    private func conditions(_ filter: EntryFilter) throws(SpoolError) -> (String, (Statement, Int32) -> Int32) {
        var clauses = ["1"]
        var binders: [(Statement, Int32) -> Void] = []
        if let sink = filter.pendingFor {
            let position = try position(of: sink)
            clauses.append("id > ?")
            binders.append { $0.bind($1, position) }
        }
        if let sink = filter.pendingFor ?? filter.addressedTo {
            if filter.pendingFor == nil { _ = try position(of: sink) }  // an unknown sink is an error
            if hasAddressedEntries {
                clauses.append("(only_sink IS NULL OR only_sink = ?)")
                binders.append { $0.bind($1, sink) }
            }
        }
        if let prefix = filter.topicPrefix {
            clauses.append("(topic = ? OR substr(topic, 1, ?) = ?)")
            binders.append { $0.bind($1, prefix) }
            binders.append { $0.bind($1, Int64(prefix.utf8.count + 1)) }
            binders.append { $0.bind($1, prefix + ".") }
        }
        if let minimum = filter.minimumLevel, minimum > .trace {
            let levels = LogLevel.allCases.filter { $0 >= minimum }.map { "'\($0.rawValue)'" }.joined(separator: ",")
            clauses.append("level IN (\(levels))")
        }
        if let since = filter.since {
            clauses.append("ts_ns >= ?")
            binders.append { $0.bind($1, since) }
        }
        if let until = filter.until {
            clauses.append("ts_ns < ?")
            binders.append { $0.bind($1, until) }
        }
        let bindAll: (Statement, Int32) -> Int32 = { statement, first in
            var index = first
            for binder in binders {
                binder(statement, index)
                index += 1
            }
            return index
        }
        return (clauses.joined(separator: " AND "), bindAll)
    }

    static func entry(_ statement: Statement) -> StoredEntry {
        StoredEntry(
            id: statement.int64(0), timestamp: statement.int64(1),
            level: LogLevel(rawValue: statement.text(2) ?? "") ?? .info,
            topic: statement.text(3) ?? "", message: statement.text(4) ?? "",
            contextJSON: statement.text(5), schema: statement.text(6) ?? LogEntry.currentSchema)
    }
}

@available(*, unavailable)
extension SpoolInspector: Sendable {}

/// Which entries an inspection looks at. Every condition left nil matches everything.
package struct EntryFilter: Sendable, Hashable {
    /// Only entries still pending for this sink (after its position, and not addressed to
    /// another sink).
    package var pendingFor: String?
    /// Only entries this sink is to receive, pending or not (not addressed to another sink).
    package var addressedTo: String?
    /// Only this topic and the topics below it: `billing` matches `billing` and
    /// `billing.payment`, not `billingx`.
    package var topicPrefix: String?
    /// Only entries at this level or a more severe one.
    package var minimumLevel: LogLevel?
    /// Only entries whose event time is at or after this (Unix nanoseconds).
    package var since: Int64?
    /// Only entries whose event time is before this (Unix nanoseconds).
    package var until: Int64?

    /// Creates a filter; the defaults match every entry.
    package init(pendingFor: String? = nil, addressedTo: String? = nil, topicPrefix: String? = nil, minimumLevel: LogLevel? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.pendingFor = pendingFor
        self.addressedTo = addressedTo
        self.topicPrefix = topicPrefix
        self.minimumLevel = minimumLevel
        self.since = since
        self.until = until
    }
}
