import Synchronization

/// What a logger and all its children share: the handlers, the clock, the rules, the counters.
/// ``SpoolLogger`` values are cheap copies of a topic, a level and a reference to this.
final class LoggerCore: Sendable {
    let handlers: [any LogEntryHandler]
    /// Each handler's type name, computed once for failure reports.
    let handlerNames: [String]
    let clock: any WallClock
    let sampler: Sampler
    let redaction: Redaction
    let redacts: Bool
    let fallback: any LogEntryHandler
    let captureStack: Bool
    let failures = Atomic<Int>(0)

    init(handlers: [any LogEntryHandler], configuration: SpoolLogger.Configuration) {
        self.handlers = handlers
        handlerNames = handlers.map { String(describing: type(of: $0)) }
        clock = configuration.clock
        sampler = Sampler(configuration.sampling)
        redaction = configuration.redaction
        redacts = !configuration.redaction.keys.isEmpty
        fallback = configuration.fallback
        captureStack = configuration.captureStack
        for handler in handlers {
            (handler as? any FailureReportingHandler)?.attach(FailureReporter(core: self, handler: String(describing: type(of: handler))))
        }
    }

    // MARK: - Dispatch

    /// Stamps, redacts and hands the entry to every handler in order; a throwing handler is
    /// reported and the next one still runs.
    func dispatch(level: LogLevel, topic: String, message: String, context: [String: JSONValue]?) {
        var entry = LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic, message: message, context: context)
        if redacts { redaction.apply(to: &entry) }
        for index in handlers.indices {
            do {
                try handlers[index].handle(entry)
            } catch {
                reportFailure(error, handler: handlerNames[index], entry: entry, during: "handle")
            }
        }
    }

    /// Awaits every handler's flush; failures are reported, not thrown.
    func flush() async {
        for index in handlers.indices {
            do {
                try await handlers[index].flush()
            } catch {
                reportFailure(error, handler: handlerNames[index], entry: nil, during: "flush")
            }
        }
    }

    // MARK: - Failures

    /// Counts the failure and gives its structured report to the fallback handler.
    func reportFailure(_ error: any Error, handler: String, entry: LogEntry?, during operation: String) {
        failures.add(1, ordering: .relaxed)
        let report = HandlerFailure.entry(
            error: error, handler: handler, original: entry, during: operation,
            timestamp: clock.now.nanoseconds, captureStack: captureStack)
        HandlerFailure.deliver(report, to: fallback)
    }
}
