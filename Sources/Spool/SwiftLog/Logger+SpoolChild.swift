import Logging

extension Logger {
    /// A swift-log `Logger` whose topic is this one's extended by `name`: with a
    /// ``SpoolLogHandler`` behind it, `Logger(label: "dsp.pipeline").spoolChild("filter")` logs
    /// under `dsp.pipeline.filter`, keeping the handler's level and metadata.
    ///
    /// ```swift
    /// let pipeline = Logger(label: "dsp.pipeline")
    /// let filter = pipeline.spoolChild("filter")
    /// filter.info("ready")                    // topic dsp.pipeline.filter
    /// ```
    ///
    /// The name carries Spool's prefix because swift-log's `Logger` is shared by every package
    /// of an app: a plain `child(_:)` could clash with another package's extension or a future
    /// swift-log API.
    ///
    /// With another handler (a `StreamLogHandler`, a `MultiplexLogHandler`, …) only the
    /// `Logger`'s `label` is extended: the handler is kept as it is, level and metadata
    /// included, so its output does not change (a handler is made for one label and keeps it).
    /// - Parameter name: One or more dot-separated topic segments.
    /// - Returns: A logger with the extended label and, behind a ``SpoolLogHandler``, topic.
    public func spoolChild(_ name: String) -> Logger {
        let label = SpoolLogger.join(self.label, name)
        let handler: any LogHandler
        if let spool = self.handler as? SpoolLogHandler {
            handler = spool.child(name)
        } else {
            handler = self.handler
        }
        return Logger(label: label) { _ in handler }
    }
}
