/// One log entry, as it is stored in the spool and sent to every destination.
///
/// ```swift
/// let entry = LogEntry(timestamp: 1_732_873_200_000_000_000, level: .error,
///                      topic: "billing.payment", message: "payment declined",
///                      context: ["order": 8812, "retryable": false])
/// ```
public struct LogEntry: Sendable, Hashable, Codable {
    /// The payload schema every stored entry and every sink payload carries.
    package static let currentSchema = currentSchemaUTF8.description
    /// ``currentSchema``'s bytes, for comparing a stored column without making a `String`.
    package static let currentSchemaUTF8: StaticString = "spool/log/v1"

    /// Event time in Unix nanoseconds.
    public var timestamp: Int64
    /// The entry's severity.
    public var level: LogLevel
    /// Dot-separated topic, e.g. `dsp.pipeline.filter.init`.
    public var topic: String
    /// The human-readable message.
    public var message: String
    /// Structured context: a JSON object, or nil.
    public var context: [String: JSONValue]?
    /// The payload schema version, ``currentSchema`` for entries made by this version.
    package var schema: String

    /// Creates an entry.
    /// - Parameters:
    ///   - timestamp: Event time in Unix nanoseconds.
    ///   - level: The entry's severity.
    ///   - topic: Dot-separated topic, e.g. `billing.payment`.
    ///   - message: The human-readable message.
    ///   - context: Structured context, or nil.
    public init(timestamp: Int64, level: LogLevel, topic: String, message: String, context: [String: JSONValue]? = nil) {
        self.init(timestamp: timestamp, level: level, topic: topic, message: message, context: context, schema: Self.currentSchema)
    }

    /// Creates an entry with an explicit payload schema (entries read back from a spool).
    package init(
        timestamp: Int64,
        level: LogLevel,
        topic: String,
        message: String,
        context: [String: JSONValue]?,
        schema: String
    ) {
        self.timestamp = timestamp
        self.level = level
        self.topic = topic
        self.message = message
        self.context = context
        self.schema = schema
    }
}

/// An entry read back from the spool. The context stays the JSON text stored on disk, so a
/// sink can copy it into its payload without decoding it; ``entry`` decodes it when needed.
package struct StoredEntry: Sendable, Hashable {
    /// The entry's id in the spool: strictly increasing in append order, never reused.
    package var id: Int64
    package var timestamp: Int64
    package var level: LogLevel
    package var topic: String
    package var message: String
    /// The stored context, a JSON object as text, or nil.
    package var contextJSON: String?
    package var schema: String

    package init(id: Int64, timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String) {
        self.id = id
        self.timestamp = timestamp
        self.level = level
        self.topic = topic
        self.message = message
        self.contextJSON = contextJSON
        self.schema = schema
    }

    /// The entry with its context decoded. A stored context that is not a JSON object (only
    /// possible when someone edited the file by hand) is kept under the key `_value`.
    package var entry: LogEntry {
        var context: [String: JSONValue]?
        if let contextJSON {
            switch try? JSONValue(parsing: contextJSON) {
            case .object(let object): context = object
            case .some(let other): context = ["_value": other]
            case .none: context = ["_value": .string(contextJSON)]
            }
        }
        return LogEntry(timestamp: timestamp, level: level, topic: topic, message: message, context: context, schema: schema)
    }
}
