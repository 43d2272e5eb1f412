import Synchronization

/// What a logger and all its children share: the handlers, the clock, the rules, the counters.
/// ``SpoolLogger`` values are cheap copies of a topic, a level and a reference to this.
package final class LoggerCore: Sendable {
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
    let failureReportInterval: Duration
    /// Per handler and operation: when its last report went out, and failures held back since.
    private let reportsSent = Mutex<[String: (at: Int64, suppressed: Int)]>([:])

    init(handlers: [any LogEntryHandler], configuration: SpoolLogger.Configuration) {
        self.handlers = handlers
        handlerNames = handlers.map { String(describing: type(of: $0)) }
        clock = configuration.clock
        sampler = Sampler(configuration.sampling)
        redaction = configuration.redaction
        redacts = !configuration.redaction.keys.isEmpty
        fallback = configuration.fallback
        captureStack = configuration.captureStack
        failureReportInterval = configuration.failureReportInterval
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

    /// Counts the failure and gives its structured report to the fallback handler, at most
    /// once per ``SpoolLogger/Configuration/failureReportInterval`` per handler and operation;
    /// the next report carries the count of those held back in between.
    func reportFailure(_ error: any Error, handler: String, entry: LogEntry?, during operation: String) {
        failures.add(1, ordering: .relaxed)
        let now = clock.now.nanoseconds
        let interval = failureReportInterval.totalNanoseconds
        let key = handler + "/" + operation
        let suppressed: Int? = reportsSent.withLock { sent in
            if let last = sent[key], interval > 0, now &- last.at < interval {
                sent[key] = (last.at, last.suppressed + 1)
                return nil
            }
            let held = sent[key]?.suppressed ?? 0
            sent[key] = (now, 0)
            return held
        }
        guard let suppressed else { return }
        var report = HandlerFailure.entry(
            error: error, handler: handler, original: entry, during: operation,
            timestamp: now, captureStack: captureStack)
        if suppressed > 0 {
            report.context?["suppressed"] = .int(Int64(suppressed))
            report.message += " (\(suppressed) more failures of this handler since the last report were held back)"
        }
        HandlerFailure.deliver(report, to: fallback)
    }
}
