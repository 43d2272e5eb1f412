/// What `spool ingest` and `spool forward --stdin` count in the spool itself, so that
/// `spool stats` can show it later: input lines that did not parse and were stored raw.
///
/// The count lives in `meta` (key `ingest_raw_stored`), readable with the `sqlite3` shell:
/// `SELECT value FROM meta WHERE key = 'ingest_raw_stored'`. It grows in its own transaction
/// after each batch is committed, so a crash between the two leaves it short by at most one
/// batch; the rows themselves carry `parse_error` in their context.
extension SpoolStore {
    /// The `meta` key of the count of raw-stored input lines.
    package static let rawStoredLinesKey = "ingest_raw_stored"

    /// Adds to the count of input lines stored raw.
    /// - Throws: ``SpoolError`` from SQLite (the count unchanged).
    package func addIngestCounts(rawStoredLines count: Int) throws(SpoolError) {
        guard count > 0 else { return }
        try writer.withLock { writer throws(SpoolError) in
            try writer.transaction { () throws(SpoolError) in
                let statement = try writer.connection.prepare("""
                    INSERT INTO meta (key, value) VALUES (?, ?)
                    ON CONFLICT (key) DO UPDATE SET value = value + excluded.value
                    """)
                statement.bind(1, Self.rawStoredLinesKey)
                statement.bind(2, Int64(count))
                try statement.run()
            }
        }
    }

    /// The count of input lines stored raw since the spool was created, read from the file
    /// (read-only, as `spool stats` opens it).
    /// - Throws: ``SpoolError`` when the file cannot be opened or read.
    package static func rawStoredLines(path: String) throws(SpoolError) -> Int64 {
        let connection = try openExisting(path, readOnly: true)
        SpoolFile.applyBusyTimeout(connection, .seconds(5))
        let statement = try connection.prepare("SELECT value FROM meta WHERE key = ?")
        statement.bind(1, rawStoredLinesKey)
        return try statement.step() ? statement.int64(0) : 0
    }
}
