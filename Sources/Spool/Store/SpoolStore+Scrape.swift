import Foundation

/// What a scrape of `spool forward --metrics-address` reads from the spool itself: counts kept
/// in the file, so they continue across restarts and agree with `spool stats`.
package struct SpoolScrape: Sendable, Hashable {
    /// Entries ever accepted: the highest id ever given (ids are never reused, `meta.id_floor`).
    package var acceptedEntries: Int64
    /// Entries dropped by the size bound's policy, by reason (`overflow:dropOldest`,
    /// `disk_full:dropNewest`…): the `drops` table, less what destinations dropped themselves.
    package var droppedByPolicy: [String: Int64]
    /// Input lines (`spool ingest`, `forward --stdin`) that did not parse and were stored raw.
    package var rawStoredLines: Int64
    package var fileBytes: Int64
    package var walBytes: Int64
}

extension SpoolStore {
    /// The spool-wide counts of ``SpoolScrape``: a few indexed reads, no scan of the entries
    /// (the drops table is one row per drop event, not per entry).
    /// - Throws: ``SpoolError`` from SQLite.
    package func scrape() throws(SpoolError) -> SpoolScrape {
        let path = self.path
        return try reader.withLock { reader throws(SpoolError) -> SpoolScrape in
            let connection = reader.connection
            return try connection.transaction(immediate: false) { () throws(SpoolError) -> SpoolScrape in
                let newest = try connection.scalarInt("SELECT max(id) FROM entries") ?? 0
                let floor = try connection.scalarInt("SELECT value FROM meta WHERE key = 'id_floor'") ?? 0
                let raw = try connection.scalarInt("SELECT value FROM meta WHERE key = '\(Self.rawStoredLinesKey)'") ?? 0
                var dropped: [String: Int64] = [:]
                let drops = try connection.prepare(
                    "SELECT reason, sum(count) FROM drops WHERE reason NOT LIKE 'rejected\\_by\\_destination:%' ESCAPE '\\' GROUP BY reason")
                while try drops.step() { dropped[drops.text(0) ?? "unknown", default: 0] += drops.int64(1) }
                return SpoolScrape(acceptedEntries: max(newest, floor), droppedByPolicy: dropped, rawStoredLines: raw,
                                   fileBytes: SpoolStats.fileSize(path), walBytes: SpoolStats.fileSize(path + "-wal"))
            }
        }
    }
}
