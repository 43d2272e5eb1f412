/// A handler whose failures happen after `handle` returned (on its own queue): the logger
/// hands it a reporter when it is attached.
package protocol FailureReportingHandler: Sendable {
    func attach(_ reporter: FailureReporter)
}

/// Reports a deferred failure to the logger the handler belongs to. Holds the logger weakly:
/// the logger owns its handlers, not the other way round.
package struct FailureReporter: Sendable {
    private weak let core: LoggerCore?
    private let handler: String

    init(core: LoggerCore, handler: String) {
        self.core = core
        self.handler = handler
    }

    /// Reports to the logger, or to stderr when the logger is gone.
    func report(_ error: any Error, entry: LogEntry?, during operation: String) {
        if let core {
            core.reportFailure(error, handler: handler, entry: entry, during: operation)
        } else {
            FailureReporter.standalone(error, handler: handler, entry: entry, during: operation)
        }
    }

    /// The report of a handler used without a logger: one JSON line on stderr.
    static func standalone(_ error: any Error, handler: String, entry: LogEntry?, during operation: String) {
        StandardError.writeJSONLine(HandlerFailure.entry(
            error: error, handler: handler, original: entry, during: operation,
            timestamp: SystemClock().now.nanoseconds, captureStack: false))
    }
}
