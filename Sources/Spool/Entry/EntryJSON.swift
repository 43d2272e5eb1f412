/// The one JSON shape of an entry, shared by the NDJSON sink, `spool export`, `--json` output and
/// stderr reports: `{"schema":…,"ts":"…","ts_ns":…,"level":…,"topic":…,"message":…,"context":{…}}`.
public enum EntryJSON {
    /// One entry as a JSON object on one line (no trailing newline).
    public static func line(_ entry: LogEntry) -> String {
        line(timestamp: entry.timestamp, level: entry.level, topic: entry.topic, message: entry.message,
             contextJSON: entry.context.map(JSON.string), schema: entry.schema, id: nil)
    }

    /// A stored entry as a JSON object on one line, with its spool id; the stored context text is
    /// copied as it is.
    public static func line(_ stored: StoredEntry) -> String {
        line(timestamp: stored.timestamp, level: stored.level, topic: stored.topic, message: stored.message,
             contextJSON: stored.contextJSON, schema: stored.schema, id: stored.id)
    }

    static func line(timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String, id: Int64?) -> String {
        var output = "{\"schema\":"
        JSON.writeString(schema, to: &output)
        if let id { output += ",\"id\":\(id)" }
        output += ",\"ts\":\""
        output += UnixTime.iso8601(nanoseconds: timestamp)
        output += "\",\"ts_ns\":\(timestamp),\"level\":\""
        output += level.rawValue
        output += "\",\"topic\":"
        JSON.writeString(topic, to: &output)
        output += ",\"message\":"
        JSON.writeString(message, to: &output)
        if let contextJSON {
            output += ",\"context\":"
            output += contextJSON
        }
        output += "}"
        return output
    }
}
