import Logging

extension Logger {
    /// A swift-log `Logger` whose topic is this one's extended by `name`: with a
    /// ``SpoolLogHandler`` behind it, `Logger(label: "dsp.pipeline").child("filter")` logs under
    /// `dsp.pipeline.filter`, keeping the handler's level and metadata.
    ///
    /// ```swift
    /// let pipeline = Logger(label: "dsp.pipeline")
    /// let filter = pipeline.child("filter")
    /// filter.info("ready")                    // topic dsp.pipeline.filter
    /// ```
    ///
    /// With another handler, the label is extended the same way and the handler is kept as it is.
    /// - Parameter name: One or more dot-separated topic segments.
    /// - Returns: A logger with the extended label and topic.
    public func child(_ name: String) -> Logger {
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
