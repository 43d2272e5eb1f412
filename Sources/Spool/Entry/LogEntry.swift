/// One log entry, as it is stored in the spool and sent to every destination.
///
/// ```swift
/// let entry = LogEntry(timestamp: 1_732_873_200_000_000_000, level: .error,
///                      topic: "billing.payment", message: "payment declined",
///                      context: ["order": 8812, "retryable": false])
/// ```
public struct LogEntry: Sendable, Hashable, Codable {
    /// The payload schema every stored entry and every sink payload carries.
    public static let currentSchema = "spool/log/v1"

    /// Event time in Unix nanoseconds.
    public var timestamp: Int64
    public var level: LogLevel
    /// Dot-separated topic, e.g. `dsp.pipeline.filter.init`.
    public var topic: String
    public var message: String
    /// Structured context: a JSON object, or nil.
    public var context: [String: JSONValue]?
    /// The payload schema version, ``currentSchema`` for entries made by this version.
    public var schema: String

    /// Creates an entry.
    public init(
        timestamp: Int64,
        level: LogLevel,
        topic: String,
        message: String,
        context: [String: JSONValue]? = nil,
        schema: String = LogEntry.currentSchema
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
public struct StoredEntry: Sendable, Hashable {
    /// The entry's id in the spool: strictly increasing in append order, never reused.
    public var id: Int64
    public var timestamp: Int64
    public var level: LogLevel
    public var topic: String
    public var message: String
    /// The stored context, a JSON object as text, or nil.
    public var contextJSON: String?
    public var schema: String

    public init(id: Int64, timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String) {
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
    public var entry: LogEntry {
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
