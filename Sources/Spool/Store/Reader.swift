/// The read connection: claims and stats. WAL lets it read while the writer commits.
package final class Reader {
    let connection: Connection
    private let batch: Statement

    init(connection: Connection) throws(SpoolError) {
        self.connection = connection
        batch = try connection.prepare(
            "SELECT id, ts_ns, level, topic, message, context, schema FROM entries WHERE id > ? AND (only_sink IS NULL OR only_sink = ?) ORDER BY id LIMIT ?",
            persistent: true)
    }

    /// Entries for `sink` after `position` in id order: at most `maxCount`, and at most
    /// `maxBytes` of topic + message + context (but always at least one entry, however large).
    /// Entries addressed to another sink (requeued dead letters, `only_sink`) are skipped.
    func entries(for sink: String, after position: Int64, maxCount: Int, maxBytes: Int) throws(SpoolError) -> [StoredEntry] {
        defer { batch.reset() }
        batch.bind(1, position)
        batch.bind(2, sink)
        batch.bind(3, Int64(maxCount))
        var entries: [StoredEntry] = []
        entries.reserveCapacity(min(maxCount, 4096))
        var bytes = 0
        while try batch.step() {
            let size = batch.byteCount(3) + batch.byteCount(4) + batch.byteCount(5)
            if !entries.isEmpty && bytes + size > maxBytes { break }
            bytes += size
            entries.append(StoredEntry(
                id: batch.int64(0),
                timestamp: batch.int64(1),
                level: batch.withTextBytes(2) { $0.flatMap(LogLevel.init(rawValueUTF8:)) } ?? .info,
                topic: batch.text(3) ?? "",
                message: batch.text(4) ?? "",
                contextJSON: batch.text(5),
                schema: batch.withTextBytes(6, Self.schema)))
        }
        return entries
    }

    /// The stored schema; the current one (nearly every entry) without making a new `String`.
    private static func schema(_ bytes: UnsafeBufferPointer<UInt8>?) -> String {
        guard let bytes else { return LogEntry.currentSchema }
        // Byte buffers compared, not a `String`'s UTF-8 view (which cost ~700 instructions).
        let current = LogEntry.currentSchemaUTF8.withUTF8Buffer { $0.hasSameBytes(as: bytes) }
        return current ? LogEntry.currentSchema : String(decoding: bytes, as: UTF8.self)
    }
}

@available(*, unavailable)
extension Reader: Sendable {}
