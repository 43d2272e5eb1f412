import Logging

/// A swift-log `LogHandler` that feeds a ``SpoolLogger``'s pipeline, so one bootstrap routes
/// every swift-log `Logger` of the app and of its dependencies into the same handlers.
///
/// - The label becomes the topic (`Logger.spoolChild(_:)` extends it).
/// - Metadata becomes the context: the handler's first, then the metadata provider's, then the
///   call's, later ones winning on equal keys (the order of swift-log's `StreamLogHandler`).
/// - Source module, file, function and line go under the one context key `origin`; an
///   event's error under `error` (type and message).
/// - Levels map one to one; `logLevel` starts at the logger's ``SpoolLogger/minimumLevel``.
/// - The pipeline's sampling and redaction apply as to any entry.
///
/// `SpoolLogHandler` is a `Sendable` value, as swift-log requires.
///
/// ```swift
/// let log = SpoolLogger(topic: "app", handlers: [ConsoleHandler(), SpoolStoreHandler(store)])
/// LoggingSystem.bootstrap(SpoolLogHandler.factory(log))
/// Logger(label: "billing").info("charged", metadata: ["order": "8812"])  // topic billing
/// ```
public struct SpoolLogHandler: LogHandler {
    /// The context key holding `{"module", "file", "function", "line"}` of the call.
    package static let originKey = "origin"

    /// The handler's own metadata, added to every entry; the provider's and the call's win on
    /// equal keys.
    public var metadata: Logger.Metadata = [:]
    /// Called for every entry; its metadata wins over the handler's and yields to the call's.
    public var metadataProvider: Logger.MetadataProvider?
    /// The least severe level swift-log passes on.
    public var logLevel: Logger.Level

    private var logger: SpoolLogger

    /// The topic entries are logged under: the label, or what ``child(_:)`` made of it.
    package var topic: String { logger.topic }

    /// Creates a handler for the swift-log `Logger` labelled `label`.
    /// - Parameters:
    ///   - label: The `Logger`'s label; used as the topic, as it is.
    ///   - logger: The pipeline to feed; its topic is replaced by the label.
    ///   - metadataProvider: Contextual metadata, e.g. from task locals. Default none.
    public init(label: String, logger: SpoolLogger, metadataProvider: Logger.MetadataProvider? = nil) {
        self.logger = logger.withTopic(label)
        self.logLevel = Logger.Level(logger.minimumLevel)
        self.metadataProvider = metadataProvider
    }

    /// The factory for `LoggingSystem.bootstrap(_:)`: one ``SpoolLogHandler`` per label.
    ///
    /// ```swift
    /// LoggingSystem.bootstrap(SpoolLogHandler.factory(log))
    /// ```
    ///
    /// - Parameter logger: The pipeline every swift-log `Logger` will feed.
    /// - Returns: A factory making one ``SpoolLogHandler`` per label.
    public static func factory(_ logger: SpoolLogger) -> @Sendable (String) -> any LogHandler {
        { label in SpoolLogHandler(label: label, logger: logger) }
    }

    /// The factory for `LoggingSystem.bootstrap(_:metadataProvider:)`, passing the bootstrap's
    /// metadata provider on. Chosen by the type checker where that form of `bootstrap` needs it;
    /// elsewhere ``factory(_:)`` (the one without a provider) is preferred.
    ///
    /// ```swift
    /// LoggingSystem.bootstrap(SpoolLogHandler.factory(log), metadataProvider: .requestID)
    /// ```
    ///
    /// - Parameter logger: The pipeline every swift-log `Logger` will feed.
    /// - Returns: A factory making one ``SpoolLogHandler`` per label, with the provider.
    @_disfavoredOverload
    public static func factory(_ logger: SpoolLogger) -> @Sendable (String, Logger.MetadataProvider?) -> any LogHandler {
        { label, provider in SpoolLogHandler(label: label, logger: logger, metadataProvider: provider) }
    }

    /// A handler like this one whose topic is extended by `name` (`billing` → `billing.refunds`).
    /// - Parameter name: One or more dot-separated topic segments.
    package func child(_ name: String) -> SpoolLogHandler {
        var handler = self
        handler.logger = logger.child(name)
        return handler
    }

    /// Turns the event into an entry and hands it to the pipeline.
    public func log(event: LogEvent) {
        logger.emit(LogLevel(event.level), { event.message.description }, context: { context(for: event) })
    }

    /// Reads or writes one key of the handler's metadata.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private func context(for event: LogEvent) -> [String: JSONValue]? {
        var context: [String: JSONValue] = [:]
        for (key, value) in metadata { context[key] = JSONValue(value) }
        if let provided = metadataProvider?.get() {
            for (key, value) in provided { context[key] = JSONValue(value) }
        }
        if let call = event.metadata {
            for (key, value) in call { context[key] = JSONValue(value) }
        }
        context[Self.originKey] = [
            "module": .string(event.source),
            "file": .string(event.file),
            "function": .string(event.function),
            "line": .int(Int64(event.line)),
        ]
        if let error = event.error { context["error"] = HandlerFailure.describe(error) }
        return context
    }
}
