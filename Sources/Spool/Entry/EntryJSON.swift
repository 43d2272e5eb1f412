/// The one JSON shape of an entry, shared by the NDJSON sink, `spool export`, `--json` output and
/// stderr reports: `{"schema":…,"ts":"…","ts_ns":…,"level":…,"topic":…,"message":…,"context":{…}}`.
package enum EntryJSON {
    /// One entry as a JSON object on one line (no trailing newline).
    package static func line(_ entry: LogEntry) -> String {
        var writer = JSONWriter(capacity: entry.message.utf8.count + 160)
        write(timestamp: entry.timestamp, level: entry.level, topic: entry.topic, message: entry.message,
              contextJSON: entry.context.map(JSON.string), schema: entry.schema, id: nil, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// A stored entry as a JSON object on one line, with its spool id; the stored context text is
    /// copied as it is.
    package static func line(_ stored: StoredEntry) -> String {
        var writer = JSONWriter(capacity: stored.message.utf8.count + 160)
        write(stored, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Appends a stored entry's line (no newline) to `writer`: the NDJSON sink's path, no
    /// `String` made.
    package static func write(_ stored: StoredEntry, to writer: inout JSONWriter) {
        write(timestamp: stored.timestamp, level: stored.level, topic: stored.topic, message: stored.message,
              contextJSON: stored.contextJSON, schema: stored.schema, id: stored.id, to: &writer)
    }

    static func write(timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String,
                      id: Int64?, to writer: inout JSONWriter) {
        writer.append("{\"schema\":")
        writer.writeString(schema)
        if let id {
            writer.append(",\"id\":")
            writer.writeInt(id)
        }
        writer.append(",\"ts\":\"")
        UnixTime.writeISO8601(nanoseconds: timestamp, to: &writer)
        writer.append("\",\"ts_ns\":")
        writer.writeInt(timestamp)
        writer.append(",\"level\":\"")
        writer.append(raw: level.rawValue)
        writer.append("\",\"topic\":")
        writer.writeString(topic)
        writer.append(",\"message\":")
        writer.writeString(message)
        if let contextJSON {
            writer.append(",\"context\":")
            writer.append(raw: contextJSON)
        }
        writer.append(byte: UInt8(ascii: "}"))
    }
}
