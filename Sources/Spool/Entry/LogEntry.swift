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
///
/// The topic, message and context are kept as UTF-8 bytes in a ``StoredText`` that every entry
/// of a claimed batch shares: reading a batch makes one allocation for all of their text, not a
/// `String` per field, and encoders copy the bytes straight into a request body
/// (``withMessageUTF8(_:)``). The `String` properties decode on demand, for the paths that want
/// one (console lines, PagerDuty summaries, a line that must be cut).
package struct StoredEntry: Sendable, Hashable {
    /// The entry's id in the spool: strictly increasing in append order, never reused.
    package var id: Int64
    package var timestamp: Int64
    package var level: LogLevel
    package var schema: String
    /// The text of this entry (and, when it was read with others, of theirs).
    private let text: StoredText
    /// Where the topic, the message and the context are in ``text``: one after another.
    private let topicStart: Int
    private let messageStart: Int
    private let contextStart: Int
    /// The context's end, or -1 when the entry has none (NULL).
    private let contextEnd: Int

    package init(id: Int64, timestamp: Int64, level: LogLevel, topic: String, message: String, contextJSON: String?, schema: String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(topic.utf8.count + message.utf8.count + (contextJSON?.utf8.count ?? 0))
        bytes.append(contentsOf: topic.utf8)
        bytes.append(contentsOf: message.utf8)
        let contextStart = bytes.count
        if let contextJSON { bytes.append(contentsOf: contextJSON.utf8) }
        self.init(id: id, timestamp: timestamp, level: level, schema: schema, text: StoredText(bytes),
                  topicStart: 0, messageStart: topic.utf8.count, contextStart: contextStart,
                  contextEnd: contextJSON == nil ? -1 : bytes.count)
    }

    /// An entry whose text is at these offsets of `text` (valid UTF-8 each, as ``StoredText``
    /// requires).
    package init(id: Int64, timestamp: Int64, level: LogLevel, schema: String, text: StoredText,
                 topicStart: Int, messageStart: Int, contextStart: Int, contextEnd: Int) {
        self.id = id
        self.timestamp = timestamp
        self.level = level
        self.schema = schema
        self.text = text
        self.topicStart = topicStart
        self.messageStart = messageStart
        self.contextStart = contextStart
        self.contextEnd = contextEnd
    }

    package var topic: String { text.string(topicStart..<messageStart) }
    package var message: String { text.string(messageStart..<contextStart) }
    /// The stored context, a JSON object as text, or nil.
    package var contextJSON: String? { contextEnd < 0 ? nil : text.string(contextStart..<contextEnd) }

    /// The topic's UTF-8 length in bytes.
    package var topicByteCount: Int { messageStart - topicStart }
    /// The message's UTF-8 length in bytes.
    package var messageByteCount: Int { contextStart - messageStart }
    /// The context's UTF-8 length in bytes, 0 when it has none.
    package var contextByteCount: Int { max(0, contextEnd - contextStart) }
    /// Whether the entry has a context (the column is not NULL).
    package var hasContext: Bool { contextEnd >= 0 }

    /// Calls `body` with the topic's UTF-8 bytes (valid UTF-8), without making a `String`.
    package func withTopicUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try text.withBytes(topicStart..<messageStart, body)
    }

    /// Calls `body` with the message's UTF-8 bytes (valid UTF-8), without making a `String`.
    package func withMessageUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try text.withBytes(messageStart..<contextStart, body)
    }

    /// Calls `body` with the context's UTF-8 bytes (valid UTF-8), or nil when it has none.
    package func withContextUTF8<R>(_ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        contextEnd < 0 ? try body(nil) : try text.withBytes(contextStart..<contextEnd) { try body($0) }
    }

    package static func == (a: StoredEntry, b: StoredEntry) -> Bool {
        a.id == b.id && a.timestamp == b.timestamp && a.level == b.level && a.schema == b.schema
            && a.hasContext == b.hasContext
            && a.withTopicUTF8 { x in b.withTopicUTF8 { x.elementsEqual($0) } }
            && a.withMessageUTF8 { x in b.withMessageUTF8 { x.elementsEqual($0) } }
            && a.withContextUTF8 { x in b.withContextUTF8 { y in (x ?? .init(start: nil, count: 0)).elementsEqual(y ?? .init(start: nil, count: 0)) } }
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(timestamp)
        hasher.combine(level)
        withMessageUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
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

/// The UTF-8 text of stored entries, back to back in one buffer that the entries of a batch
/// share (``StoredEntry``). Every range an entry names holds valid UTF-8: the reader repairs
/// what is not (text written by hand in the `sqlite3` shell can be anything), as `String` would.
package final class StoredText: Sendable {
    private let bytes: [UInt8]

    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func string(_ range: Range<Int>) -> String {
        withBytes(range) { String(decoding: $0, as: UTF8.self) }
    }

    func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[range]))
        }
    }

    /// Appends `utf8` to `text` as valid UTF-8: as it is when it is (nearly always), else as
    /// `String` repairs it (each invalid sequence becomes U+FFFD).
    package static func appendRepairing(_ utf8: UnsafeBufferPointer<UInt8>, to text: inout [UInt8]) {
        if isValidUTF8(utf8) {
            text.append(contentsOf: utf8)
        } else {
            text.append(contentsOf: String(decoding: utf8, as: UTF8.self).utf8)
        }
    }

    /// Whether `bytes` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
    /// nothing above U+10FFFF). ASCII is checked a word (eight bytes) at a time.
    package static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            if index + 8 <= count,
               UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            let lead = base[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            // The continuation bytes a lead byte needs, and the range its first one must be in.
            let needed: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: needed = 1
            case 0xE0: needed = 2; low = 0xA0          // no overlong three-byte forms
            case 0xE1...0xEC, 0xEE...0xEF: needed = 2
            case 0xED: needed = 2; high = 0x9F         // no surrogates
            case 0xF0: needed = 3; low = 0x90          // no overlong four-byte forms
            case 0xF1...0xF3: needed = 3
            case 0xF4: needed = 3; high = 0x8F         // nothing above U+10FFFF
            default: return false
            }
            guard index + needed < count, base[index + 1] >= low, base[index + 1] <= high else { return false }
            var next = index + 2
            while next <= index + needed {
                guard base[next] & 0xC0 == 0x80 else { return false }
                next += 1
            }
            index += needed + 1
        }
        return true
    }
}
