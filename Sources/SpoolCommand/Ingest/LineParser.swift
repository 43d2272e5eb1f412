import ArgumentParser
import Foundation
// tools/fuzz compiles this file in a package of its own, which reaches Spool's package
// declarations as a test does (built with -enable-testing and -DSPOOL_FUZZ).
#if SPOOL_FUZZ
@testable import Spool
@testable import SpoolForwarding
#else
import Spool
import SpoolForwarding
#endif

/// Turns one input line of `spool ingest` (and `forward --stdin`) into an entry. The rules are in
/// `Ingest`'s help and docs/cli.md.
///
/// Every line that is not blank becomes an entry. A line that does not parse in the chosen
/// format is stored **raw**: its text is the message, at the default level and topic, with the
/// reason in its context (`parse_error`). Nothing is skipped.
struct LineParser: Sendable {
    typealias Format = SpoolConfiguration.Ingest.Format

    /// What a line became.
    enum Outcome {
        /// Nothing: a blank line.
        case blank
        /// An entry read in the format; `notes` tell of fields that were kept in the context
        /// because their value could not be used (an unknown level, an unreadable time).
        case parsed(LogEntry, notes: [String])
        /// An entry holding the raw line, because it did not parse; `reason` says why.
        case raw(LogEntry, reason: String)
    }

    /// The context key of a raw-stored line's reason.
    static let parseErrorKey = "parse_error"

    var format: Format
    var topic: String
    var level: LogLevel
    /// Names tried for each part of an entry: the configured ones, then the built-in ones.
    var fields: FieldNames
    /// The store's message limit: a line cut by the reader is stored within it, with a marker
    /// giving the line's real length.
    var maximumMessageBytes: Int
    var clock: any WallClock

    init(format: Format, topic: String, level: LogLevel, extraFields: SpoolConfiguration.Ingest.Fields = .init(),
         maximumMessageBytes: Int = SpoolStore.Configuration().maximumMessageBytes, clock: any WallClock = SystemClock()) {
        self.format = format
        self.topic = topic
        self.level = level
        fields = FieldNames(extra: extraFields)
        self.maximumMessageBytes = maximumMessageBytes
        self.clock = clock
    }

    /// The entry a line holds.
    func parse(_ line: LineReader.Line) -> Outcome {
        let bytes = line.bytes
        switch format {
        case .text:
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return .blank }
            return .parsed(LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic, message: message(of: line)), notes: [])
        case .json, .logfmt:
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return .blank }
            if line.isCut {
                return raw(line, reason: "the line is \(line.totalBytes) bytes, more than the \(LineReader.maximumLineBytes) bytes parsed; its start is kept")
            }
            let object: [String: JSONValue]
            switch format == .json ? Self.jsonObject(bytes) : Logfmt.parse(bytes) {
            case .success(let parsed): object = parsed
            case .failure(let failure): return raw(line, reason: failure.reason)
            }
            return entry(from: object, line: line)
        }
    }

    // MARK: - Fields

    private func entry(from object: [String: JSONValue], line: LineReader.Line) -> Outcome {
        var fields = object
        var notes: [String] = []
        var entry = LogEntry(timestamp: 0, level: level, topic: topic, message: "")

        // The message: the first candidate that is a string; a line without one keeps its text.
        if let (key, text) = first(of: self.fields.message, in: fields, as: { value -> String? in
            if case .string(let text) = value { return text }
            return nil
        }) {
            fields[key] = nil
            entry.message = Self.withoutTrailingNewline(text)
        } else {
            entry.message = message(of: line)
        }

        if let key = self.fields.level.first(where: { fields[$0] != nil && fields[$0] != .null }), let value = fields[key] {
            if let parsed = LevelText.level(value, key: key) {
                entry.level = parsed
                fields[key] = nil
            } else if case .string(let name) = value, LevelText.isDefault(name) {
                fields[key] = nil
            } else {
                notes.append("level \(Self.shown(value)) in \"\(key)\" is not one Spool knows: stored at \(level.rawValue), the field kept in the context")
            }
        }

        if let (key, name) = first(of: self.fields.topic, in: fields, as: { value -> String? in
            if case .string(let name) = value, !name.isEmpty { return name }
            return nil
        }) {
            entry.topic = name
            fields[key] = nil
        }

        entry.timestamp = clock.now.nanoseconds
        if let key = self.fields.time.first(where: { fields[$0] != nil && fields[$0] != .null }), let value = fields[key] {
            switch Self.time(value) {
            case .success(let nanoseconds):
                entry.timestamp = nanoseconds
                fields[key] = nil
            case .failure(let failure):
                notes.append("\"\(key)\": \(failure.reason): the entry has the time it was read, the field kept in the context")
            }
        }

        // What is left is context; an object under `context` is the base (the format
        // `spool export` writes), and other fields join it.
        var context: [String: JSONValue] = [:]
        switch fields.removeValue(forKey: "context") {
        case nil, .null?: break
        case .object(let inner)?: context = inner
        case let other?:
            notes.append("\"context\" is \(Self.kind(of: other)), not an object: kept as {\"_value\": …}")
            context["_value"] = other
        }
        for (key, value) in fields {
            if context[key] == nil {
                context[key] = value
            } else {
                notes.append("field \"\(key)\" is also in \"context\": the context's value was kept")
            }
        }
        entry.context = context.isEmpty ? nil : context
        return .parsed(entry, notes: notes)
    }

    /// The first of `keys` present in `fields` whose value `convert` accepts.
    private func first<Value>(of keys: [String], in fields: [String: JSONValue], as convert: (JSONValue) -> Value?) -> (String, Value)? {
        for key in keys {
            if let value = fields[key], let converted = convert(value) { return (key, converted) }
        }
        return nil
    }

    // MARK: - Raw lines

    /// The line as an entry of its own: its text, the default level and topic, the reason.
    private func raw(_ line: LineReader.Line, reason: String) -> Outcome {
        let entry = LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic, message: message(of: line),
                             context: [Self.parseErrorKey: .string(reason)])
        return .raw(entry, reason: reason)
    }

    /// The line's text; a line cut by the reader is cut to the store's limit with a marker that
    /// gives its real length (the store would otherwise count only what was kept).
    private func message(of line: LineReader.Line) -> String {
        guard line.isCut || line.bytes.count > maximumMessageBytes else { return String(decoding: line.bytes, as: UTF8.self) }
        let marker = "…[truncated: \(line.totalBytes) bytes]"
        var keep = min(line.bytes.count, max(0, maximumMessageBytes - marker.utf8.count))
        // Back up over UTF-8 continuation bytes so no scalar is split.
        while keep > 0, keep < line.bytes.count, line.bytes[keep] & 0xC0 == 0x80 { keep -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: line.bytes[..<keep]), as: UTF8.self) + marker
    }

    // MARK: - Values

    struct Failure: Error {
        var reason: String
    }

    private static func jsonObject(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<[String: JSONValue], Failure> {
        let value: JSONValue
        do throws(SpoolError) {
            value = try JSONValue(parsing: bytes)
        } catch {
            return .failure(Failure(reason: "not JSON: \(error.message)"))
        }
        guard case .object(let object) = value else {
            return .failure(Failure(reason: "not a JSON object but \(kind(of: value))"))
        }
        return .success(object)
    }

    /// An event time: a number (Unix time in s, ms, µs or ns, by magnitude), the same as a
    /// string of digits (journald), or ISO 8601 / RFC 3339 text.
    static func time(_ value: JSONValue) -> Result<Int64, Failure> {
        do throws(SpoolError) {
            switch value {
            // Integers go through the Int64 overload so that nanoseconds stay exact.
            case .int(let number): return .success(try UnixTime.nanoseconds(fromEpoch: number))
            case .double(let number): return .success(try UnixTime.nanoseconds(fromEpoch: number))
            case .string(let text):
                if let number = Int64(text) { return .success(try UnixTime.nanoseconds(fromEpoch: number)) }
                if text.first?.isNumber == true, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let number = Double(text) {
                    return .success(try UnixTime.nanoseconds(fromEpoch: number))
                }
                if let nanoseconds = TimeText.nanoseconds(text) { return .success(nanoseconds) }
                return .failure(Failure(reason: "\(shown(value)) is neither ISO 8601 nor a Unix time"))
            default:
                return .failure(Failure(reason: "a time must be a number or text, not \(kind(of: value))"))
            }
        } catch {
            return .failure(Failure(reason: error.message))
        }
    }

    /// A short rendering of a value for a note: at most 40 characters.
    private static func shown(_ value: JSONValue) -> String {
        let text = value.description
        return text.count > 40 ? String(text.prefix(40)) + "…" : text
    }

    private static func withoutTrailingNewline(_ text: String) -> String {
        if text.hasSuffix("\r\n") { return String(text.dropLast(2)) }
        if text.hasSuffix("\n") { return String(text.dropLast()) }
        return text
    }

    static func kind(of value: JSONValue) -> String {
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

extension SpoolConfiguration.Ingest.Format: ExpressibleByArgument {}
