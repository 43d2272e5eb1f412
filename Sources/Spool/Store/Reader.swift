/// The read connection: claims and stats. WAL lets it read while the writer commits.
package final class Reader {
    let connection: Connection
    private let batch: Statement
    /// The text bytes of the last claim: the next is sized for as much (batches of a stream are
    /// alike), so a full batch is read into one allocation and a live tail's into a small one.
    private var lastTextBytes = 0

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
        // Every entry's text goes into one buffer the batch shares: no `String` per field.
        var text: [UInt8] = []
        text.reserveCapacity(min(maxBytes, lastTextBytes + lastTextBytes / 8 + 4096))
        var rows: [Row] = []
        rows.reserveCapacity(min(maxCount, 4096))
        while try batch.step() {
            let size = batch.byteCount(3) + batch.byteCount(4) + batch.byteCount(5)
            if !rows.isEmpty && text.count + size > maxBytes { break }
            let topicStart = text.count
            batch.withTextBytes(3) { $0.map { StoredText.appendRepairing($0, to: &text) } }
            let messageStart = text.count
            batch.withTextBytes(4) { $0.map { StoredText.appendRepairing($0, to: &text) } }
            let contextStart = text.count
            let hasContext = batch.withTextBytes(5) { bytes -> Bool in
                guard let bytes else { return false }
                StoredText.appendRepairing(bytes, to: &text)
                return true
            }
            rows.append(Row(id: batch.int64(0), timestamp: batch.int64(1),
                            level: batch.withTextBytes(2) { $0.flatMap(LogLevel.init(rawValueUTF8:)) } ?? .info,
                            schema: batch.withTextBytes(6, Self.schema),
                            topicStart: topicStart, messageStart: messageStart, contextStart: contextStart,
                            contextEnd: hasContext ? text.count : -1))
        }
        // The entries keep the buffer while they are out: not one much larger than their text.
        if text.capacity > text.count + text.count / 4 + 4096 { text = text.withUnsafeBufferPointer { Array($0) } }
        lastTextBytes = text.count
        let shared = StoredText(text)
        return rows.map { row in
            StoredEntry(id: row.id, timestamp: row.timestamp, level: row.level, schema: row.schema, text: shared,
                        topicStart: row.topicStart, messageStart: row.messageStart, contextStart: row.contextStart,
                        contextEnd: row.contextEnd)
        }
    }

    /// An entry as read, before the batch's text is complete.
    private struct Row {
        var id: Int64
        var timestamp: Int64
        var level: LogLevel
        var schema: String
        var topicStart: Int
        var messageStart: Int
        var contextStart: Int
        var contextEnd: Int
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
