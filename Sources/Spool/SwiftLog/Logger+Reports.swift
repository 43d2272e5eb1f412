import Logging

/// Spool's reports of its own problems (entries dropped at the bound, a damaged file set aside,
/// a sink failing) given to the app's swift-log `Logger`
/// (``SpoolStore/Configuration/logger``), and the guard that keeps them from recursing.
package enum LibraryReports {
    /// The metadata key holding the report's topic (`spool.store.dropped`, …).
    static let topicKey = "topic"

    /// Set while a report is being given to the app's logger on this thread (or task): a report
    /// that causes (the logger appending to the spool that is full drops an entry, which is
    /// reported) goes to `fallback` instead of the logger, so reports never recurse.
    @TaskLocal static var delivering = false

    /// Where a store with `configuration` reports: its logger when it has one, else the
    /// configuration's `report` (one JSON line on stderr by default).
    static func reporter(for configuration: SpoolStore.Configuration) -> @Sendable (LogEntry) -> Void {
        guard let logger = configuration.logger else { return configuration.report }
        let fallback = configuration.report
        return { entry in deliver(entry, to: logger, fallback: fallback) }
    }

    /// Logs `entry` with `logger`: its level, its message, its topic under ``topicKey`` and its
    /// context as metadata. A report made while another is being logged goes to `fallback`.
    static func deliver(_ entry: LogEntry, to logger: Logger, fallback: @Sendable (LogEntry) -> Void) {
        guard !delivering else { return fallback(entry) }
        var metadata: Logger.Metadata = [:]
        if let context = entry.context {
            for (key, value) in context { metadata[key] = metadataValue(value) }
        }
        metadata[topicKey] = .string(entry.topic)
        $delivering.withValue(true) {
            logger.log(level: Logger.Level(entry.level), "\(entry.message)", metadata: metadata)
        }
    }

    /// A context value as swift-log metadata: strings stay strings, numbers, booleans and null
    /// keep their JSON spelling, objects become dictionaries and arrays arrays.
    static func metadataValue(_ value: JSONValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(text)
        case .int(let number): .stringConvertible(number)
        case .double(let number): .stringConvertible(number)
        case .bool(let flag): .stringConvertible(flag)
        case .null: .string("null")
        case .array(let elements): .array(elements.map(metadataValue))
        case .object(let object): .dictionary(object.mapValues(metadataValue))
        }
    }
}
