extension SpoolLogger {
    /// How a logger treats entries between the call and its handlers. Every field has a
    /// documented default. A `Sendable` value.
    ///
    /// ```swift
    /// var configuration = SpoolLogger.Configuration()
    /// configuration.sampling = Sampling(debug: 0.01)
    /// configuration.redaction.keys.append("session_id")
    /// let log = SpoolLogger(topic: "api", handlers: [ConsoleHandler()], configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// Which levels are thinned out. Default ``Sampling/keepAll``.
        public var sampling: Sampling = .keepAll
        /// Which context keys are hidden before any handler runs. Default: ``Redaction/defaultKeys``
        /// replaced by `"[REDACTED]"`.
        public var redaction: Redaction = Redaction()
        /// Receives the structured report (topic `logger.handler.error`) of a handler that threw.
        /// If it throws too, one JSON line goes to stderr; it is never called recursively.
        /// Default: one JSON line on stderr.
        public var fallback: any LogEntryHandler = ClosureHandler(StandardError.writeJSONLine)
        /// Where timestamps come from. Default the system clock; tests pass a manual clock.
        package var clock: any WallClock = SystemClock()
        /// Whether failure reports carry the stack where the failure was caught. Default true.
        package var captureStack: Bool = true
        /// At most one failure report per handler in this interval: a handler that fails on
        /// every entry (a full disk, a closed pipe) must not flood the fallback. Failures in
        /// between are counted in ``SpoolLogger/Statistics/handlerFailures`` and the next report
        /// says how many were held back (`suppressed`). Default 1 s; zero reports every failure.
        package var failureReportInterval: Duration = .seconds(1)

        /// The defaults.
        public init() {}
    }
}
