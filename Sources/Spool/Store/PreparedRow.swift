/// An entry ready to be inserted: limits applied, context encoded. Built on the caller's thread,
/// before any lock is taken, so the writer's critical section only binds and steps.
package struct PreparedRow: Sendable {
    var timestamp: Int64
    var level: LogLevel
    var topic: String
    var message: String
    var context: String?
    var schema: String
    /// Buffered mode: the ticket of the caller that waits for this row's commit (an append past
    /// the high-water mark), which hears a failure and takes its rows back with it; 0 for rows
    /// whose append already returned, which stay queued after a failure.
    var waitingTicket: UInt64 = 0

    /// Approximate bytes the row occupies on disk, for the size bound.
    var byteCount: Int { topic.utf8.count + message.utf8.count + (context?.utf8.count ?? 0) + 40 }

    /// The UTF-8 bytes of the row's five text columns.
    var textByteCount: Int {
        level.rawValue.utf8.count + topic.utf8.count + message.utf8.count + (context?.utf8.count ?? 0) + schema.utf8.count
    }

    /// Topics are names, not payloads: longer ones are cut.
    static let maximumTopicBytes = 1024

    init(_ entry: LogEntry, maximumMessageBytes: Int) {
        timestamp = entry.timestamp
        level = entry.level
        topic = Self.truncated(entry.topic, to: Self.maximumTopicBytes)
        message = Self.truncated(entry.message, to: maximumMessageBytes)
        schema = entry.schema
        if let object = entry.context {
            let json = JSON.string(object)
            if json.utf8.count > maximumMessageBytes {
                // Still a JSON object, still readable, and visibly cut.
                context = JSON.string([
                    "_truncated": .string(Self.truncated(json, to: maximumMessageBytes / 2)),
                    "_original_bytes": .int(Int64(json.utf8.count)),
                ])
            } else {
                context = json
            }
        }
    }

    /// `text` cut to at most `limit` UTF-8 bytes (on a scalar boundary) plus a marker that
    /// says how long it was. Text within the limit is returned unchanged.
    package static func truncated(_ text: String, to limit: Int) -> String {
        let count = text.utf8.count
        guard count > limit else { return text }
        let marker = "…[truncated: \(count) bytes]"
        let keep = max(0, limit - marker.utf8.count)
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: keep)
        // Back up over UTF-8 continuation bytes so no scalar is split.
        while end > text.utf8.startIndex, text.utf8[end] & 0xC0 == 0x80 {
            end = text.utf8.index(before: end)
        }
        return String(decoding: text.utf8[..<end], as: UTF8.self) + marker
    }
}
