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
        var writer = JSONWriter(capacity: stored.messageByteCount + stored.contextByteCount + 160)
        write(stored, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Appends a stored entry's line (no newline) to `writer`: the NDJSON sink's path, copied
    /// from the stored bytes, no `String` made.
    package static func write(_ stored: StoredEntry, to writer: inout JSONWriter) {
        stored.withTopicUTF8 { topic in
            stored.withMessageUTF8 { message in
                stored.withContextUTF8 { context in
                    write(timestamp: stored.timestamp, level: stored.level, topic: topic, message: message,
                          contextJSON: context, schema: stored.schema, id: stored.id, to: &writer)
                }
            }
        }
    }

    static func write(timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String,
                      id: Int64?, to writer: inout JSONWriter) {
        var (topic, message) = (topic, message)
        topic.withUTF8 { topic in
            message.withUTF8 { message in
                func write(_ context: UnsafeBufferPointer<UInt8>?) {
                    EntryJSON.write(timestamp: timestamp, level: level, topic: topic, message: message, contextJSON: context,
                                    schema: schema, id: id, to: &writer)
                }
                if var contextJSON { contextJSON.withUTF8 { write($0) } } else { write(nil) }
            }
        }
    }

    /// The one writer of the shape: the text fields as valid UTF-8, the context as JSON text.
    static func write(timestamp: Int64, level: LogLevel, topic: UnsafeBufferPointer<UInt8>, message: UnsafeBufferPointer<UInt8>,
                      contextJSON: UnsafeBufferPointer<UInt8>?, schema: String, id: Int64?, to writer: inout JSONWriter) {
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
        writer.writeString(utf8: topic)
        writer.append(",\"message\":")
        writer.writeString(utf8: message)
        if let contextJSON {
            writer.append(",\"context\":")
            writer.append(raw: contextJSON)
        }
        writer.append(byte: UInt8(ascii: "}"))
    }
}
