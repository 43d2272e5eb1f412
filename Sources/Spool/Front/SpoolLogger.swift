/// Spool's logger: dispatches every entry to several isolated handlers at once (console, spool,
/// your own), after its minimum level, sampling and redaction.
///
/// A `SpoolLogger` is a cheap `Sendable` value (a topic, a level and a reference to the shared
/// pipeline); pass it around, store it, make ``child(_:)`` loggers from it. All copies and
/// children share handlers, clock, rules and counters.
///
/// ```swift
/// let store = try SpoolStore(path: "/var/lib/dsp/logs.spool")
/// let log = SpoolLogger(topic: "dsp.pipeline", handlers: [SpoolStoreHandler(store), ConsoleHandler()])
/// log.info("pipeline started", context: ["stages": 4])
///
/// let filters = log.child("filter")          // topic dsp.pipeline.filter
/// filters.debug("coefficients", topic: "init", context: ["taps": 64])  // dsp.pipeline.filter.init
/// ```
///
/// `log` is synchronous, never waits on the network and never throws: a handler that fails is
/// reported to the fallback handler (``Configuration/fallback``) and the others still run. With a
/// ``SpoolStoreHandler`` in `committed` mode, `log` returns after the commit.
///
/// Named `SpoolLogger` rather than `Logger` so that files importing both Spool and swift-log
/// need no qualification; swift-log's `Logger` can feed the same pipeline (``SpoolLogHandler``).
public struct SpoolLogger: Sendable {
    /// The topic of entries logged without a `topic:` argument, and the prefix of those with one.
    public let topic: String
    /// Entries below this level are discarded before their message or context is evaluated.
    /// Children inherit it; changing it changes only this value.
    public var minimumLevel: LogLevel

    let core: LoggerCore

    /// Creates a root logger.
    ///
    /// - Parameters:
    ///   - topic: The root topic. Default `"app"`; name it after your service (`"billing"`) so
    ///     that entries from several services stay apart in a shared destination.
    ///   - minimumLevel: The least severe level kept. Default `.info`, as swift-log.
    ///   - handlers: Where entries go, in this order. Each is isolated from the others' failures.
    ///   - configuration: Sampling, redaction, fallback, clock. Default ``Configuration/init()``.
    public init(
        topic: String = "app",
        minimumLevel: LogLevel = .info,
        handlers: [any LogEntryHandler],
        configuration: Configuration = Configuration()
    ) {
        self.topic = topic
        self.minimumLevel = minimumLevel
        self.core = LoggerCore(handlers: handlers, configuration: configuration)
    }

    init(topic: String, minimumLevel: LogLevel, core: LoggerCore) {
        self.topic = topic
        self.minimumLevel = minimumLevel
        self.core = core
    }

    // MARK: - Logging

    /// Logs an entry at `level`.
    ///
    /// Below ``minimumLevel``, or dropped by sampling, the call returns without evaluating
    /// `message` or `context`.
    ///
    /// ```swift
    /// log.log(.warning, "retrying", topic: "upload", context: ["attempt": 3])
    /// ```
    ///
    /// - Parameters:
    ///   - level: The entry's level.
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic after a dot; nil logs under ``topic`` itself.
    ///   - context: Structured context, evaluated only if the entry is kept; redacted before any
    ///     handler sees it.
    package func log(
        _ level: LogLevel,
        _ message: @autoclosure () -> String,
        topic: String? = nil,
        context: @autoclosure () -> [String: JSONValue]? = nil
    ) {
        guard level >= minimumLevel, core.sampler.keeps(level) else { return }
        core.dispatch(level: level, topic: resolve(topic), message: message(), context: context())
    }

    /// Logs an entry that already passed a level check (the swift-log bridge's path): sampling,
    /// redaction and dispatch, no minimum level.
    func emit(_ level: LogLevel, _ message: () -> String, context: () -> [String: JSONValue]?) {
        guard core.sampler.keeps(level) else { return }
        core.dispatch(level: level, topic: topic, message: message(), context: context())
    }

    // MARK: - Children

    /// A logger whose topic is this logger's topic extended by `name`, sharing everything else.
    ///
    /// ```swift
    /// let pipeline = SpoolLogger(topic: "dsp.pipeline", handlers: handlers)
    /// let filter = pipeline.child("filter")   // dsp.pipeline.filter
    /// filter.info("ready", topic: "init")     // topic dsp.pipeline.filter.init
    /// ```
    ///
    /// - Parameter name: One or more dot-separated topic segments.
    public func child(_ name: String) -> SpoolLogger {
        SpoolLogger(topic: Self.join(topic, name), minimumLevel: minimumLevel, core: core)
    }

    /// The same pipeline under another topic (the swift-log bridge uses the label).
    func withTopic(_ topic: String) -> SpoolLogger {
        SpoolLogger(topic: topic, minimumLevel: minimumLevel, core: core)
    }

    @inline(__always)
    private func resolve(_ suffix: String?) -> String {
        guard let suffix else { return topic }
        return Self.join(topic, suffix)
    }

    static func join(_ prefix: String, _ suffix: String) -> String {
        if prefix.isEmpty { return suffix }
        if suffix.isEmpty { return prefix }
        return prefix + "." + suffix
    }

    // MARK: - Flushing and counters

    /// Returns once every handler has finished with what was logged before the call: the
    /// asynchronous queues are drained, buffered spool appends committed. Failures are reported
    /// to the fallback handler, not thrown.
    public func flush() async {
        await core.flush()
    }

    /// What the logger dropped or failed to deliver so far, over this logger and every value
    /// sharing its pipeline.
    package var statistics: Statistics {
        Statistics(handlerFailures: core.failures.load(ordering: .relaxed), sampledOut: core.sampler.dropped)
    }

    /// Counters of what did not go through. A `Sendable` value.
    package struct Statistics: Sendable, Hashable {
        /// Handler calls (handle or flush) that threw and were reported to the fallback.
        package var handlerFailures: Int
        /// Entries dropped by sampling, per sampled level.
        package var sampledOut: [LogLevel: Int]
    }
}
