import Foundation

/// The structured entry that reports a handler's failure, and the last-resort path that keeps
/// a failing fallback from recursing or crashing.
package enum HandlerFailure {
    /// The topic of every handler-failure entry.
    static let topic = "logger.handler.error"
    /// The topic of the stderr line written when the fallback handler fails too.
    static let fallbackTopic = "logger.fallback.error"
    /// Frames kept from the stack; deeper frames are runtime and thread start-up.
    static let maximumFrames = 48

    /// Set while a report is being given to the fallback: a failure inside the fallback (which
    /// may well log through the same logger) then goes straight to stderr instead of back to
    /// the fallback, so reports never recurse.
    @TaskLocal static var reporting = false

    /// The report: level error, topic ``topic``, and in its context the original entry, the
    /// error's type and message, the handler's type and the stack where the platform gives one.
    static func entry(
        error: any Error, handler: String, original: LogEntry?, during operation: String,
        timestamp: Int64, captureStack: Bool
    ) -> LogEntry {
        var context: [String: JSONValue] = [
            "handler": .string(handler),
            "operation": .string(operation),
            "error": describe(error),
        ]
        if let original { context["entry"] = object(original) }
        if captureStack {
            // The stack where the failure was caught: it runs through the `log` call site.
            let frames = Thread.callStackSymbols.prefix(maximumFrames)
            if !frames.isEmpty { context["stack"] = .array(frames.map { .string($0) }) }
        }
        return LogEntry(
            timestamp: timestamp, level: .error, topic: topic,
            message: "log handler \(handler) failed to \(operation) an entry: \(error)",
            context: context)
    }

    /// The error's type and message, and its code when it is a ``SpoolError``.
    static func describe(_ error: any Error) -> JSONValue {
        var object: [String: JSONValue] = [
            "type": .string(String(reflecting: type(of: error))),
            "message": .string(String(describing: error)),
        ]
        if let spoolError = error as? SpoolError { object["code"] = .string(spoolError.code.description) }
        return .object(object)
    }

    /// An entry as a context value, in the field names of its JSON line.
    static func object(_ entry: LogEntry) -> JSONValue {
        var object: [String: JSONValue] = [
            "schema": .string(entry.schema),
            "ts_ns": .int(entry.timestamp),
            "level": .string(entry.level.rawValue),
            "topic": .string(entry.topic),
            "message": .string(entry.message),
        ]
        if let context = entry.context { object["context"] = .object(context) }
        return .object(object)
    }

    /// Gives `report` to `fallback`. If the fallback throws, or fails again while already
    /// reporting, one JSON line goes to stderr and nothing else happens.
    static func deliver(_ report: LogEntry, to fallback: any LogEntryHandler) {
        if reporting {
            StandardError.writeJSONLine(report)
            return
        }
        $reporting.withValue(true) {
            do {
                try fallback.handle(report)
            } catch {
                StandardError.writeJSONLine(LogEntry(
                    timestamp: report.timestamp, level: .error, topic: fallbackTopic,
                    message: "the fallback log handler failed too: \(error)",
                    context: ["report": object(report), "error": describe(error)]))
            }
        }
    }
}
