import ArgumentParser
import Spool

/// Turns one input line of `spool ingest` into an entry. The rules are in `Ingest`'s help.
struct LineParser {
    /// How a line is read.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// The whole line is the message.
        case text
        /// The line is a JSON object with `message`, `level`, `topic`, `timestamp`, `context`.
        case json
    }

    /// Why a line was refused; it is reported with its number and skipped.
    struct Malformed: Error {
        var reason: String
    }

    var format: Format
    var topic: String
    var level: LogLevel
    var clock: any WallClock = SystemClock()

    /// The entry a line holds, or nil for a blank line (skipped, not an error). `warn` hears
    /// about repairs made to a line that was kept.
    func entry(from line: UnsafeBufferPointer<UInt8>, warn: (String) -> Void) throws(Malformed) -> LogEntry? {
        switch format {
        case .text:
            if line.isEmpty { return nil }
            return LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic,
                            message: String(decoding: line, as: UTF8.self))
        case .json:
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            let value: JSONValue
            do throws(SpoolError) {
                value = try JSONValue(parsing: line)
            } catch {
                throw Malformed(reason: error.message)
            }
            guard case .object(let object) = value else {
                throw Malformed(reason: "not a JSON object (each line must be one object with at least a \"message\")")
            }
            return try entry(from: object, warn: warn)
        }
    }

    private static let fields: Set<String> = ["message", "level", "topic", "timestamp", "context"]

    private func entry(from object: [String: JSONValue], warn: (String) -> Void) throws(Malformed) -> LogEntry {
        guard let messageValue = object["message"] else { throw Malformed(reason: "no \"message\" field") }
        guard case .string(let message) = messageValue else {
            throw Malformed(reason: "\"message\" must be a string, not \(Self.kind(of: messageValue))")
        }
        var entry = LogEntry(timestamp: 0, level: level, topic: topic, message: message)

        switch object["level"] {
        case nil, .null?: break
        case .string(let name)?:
            guard let parsed = LogLevel(parsing: name) else {
                throw Malformed(reason: "unknown level \"\(name)\" (use trace, debug, info, notice, warning or warn, error, critical or fatal)")
            }
            entry.level = parsed
        case let other?: throw Malformed(reason: "\"level\" must be a string, not \(Self.kind(of: other))")
        }

        switch object["topic"] {
        case nil, .null?, .string("")?: break
        case .string(let name)?: entry.topic = name
        case let other?: throw Malformed(reason: "\"topic\" must be a string, not \(Self.kind(of: other))")
        }

        entry.timestamp = try timestamp(object["timestamp"])

        var context: [String: JSONValue]?
        switch object["context"] {
        case nil, .null?: break
        case .object(let fields)?: context = fields
        case let other?:
            warn("\"context\" is \(Self.kind(of: other)), not an object: kept as {\"_value\": …}")
            context = ["_value": other]
        }
        // Other fields are kept in the context rather than lost.
        for (key, value) in object where !Self.fields.contains(key) {
            if context?[key] == nil {
                context = context ?? [:]
                context?[key] = value
            } else {
                warn("field \"\(key)\" is also in \"context\": the context's value was kept")
            }
        }
        entry.context = context
        return entry
    }

    /// Event time in Unix nanoseconds; a missing timestamp means "now", the time of reading.
    private func timestamp(_ value: JSONValue?) throws(Malformed) -> Int64 {
        do throws(SpoolError) {
            switch value {
            case nil, .null?: return clock.now.nanoseconds
            // Integers go through the Int64 overload so that nanoseconds stay exact.
            case .int(let number)?: return try UnixTime.nanoseconds(fromEpoch: number)
            case .double(let number)?: return try UnixTime.nanoseconds(fromEpoch: number)
            default: break
            }
        } catch {
            throw Malformed(reason: error.message)
        }
        throw Malformed(reason: "\"timestamp\" must be a number (Unix time in s, ms, µs or ns), not \(Self.kind(of: value ?? .null))")
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
