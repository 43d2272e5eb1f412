/// A destination for the entries of a ``SpoolLogger``: the console, the spool, a test recorder,
/// a closure.
///
/// A logger calls ``handle(_:)`` synchronously on the logging thread, for every entry that passed
/// its minimum level, sampling and redaction. A handler that throws does not stop the others: the
/// logger turns the error into a structured entry (topic `logger.handler.error`) for its fallback
/// handler. Handlers are `Sendable`: one handler serves every thread that logs.
///
/// ```swift
/// struct PrintHandler: LogEntryHandler {
///     func handle(_ entry: LogEntry) throws {
///         print(entry.level, entry.topic, entry.message)
///     }
/// }
/// ```
public protocol LogEntryHandler: Sendable {
    /// Takes one entry. Must not wait on the network: a handler with slow work hands it to a
    /// queue (see ``AsyncClosureHandler``).
    /// - Parameter entry: The entry, already redacted.
    /// - Throws: Anything; the logger reports it to its fallback handler and carries on.
    func handle(_ entry: LogEntry) throws

    /// Returns once everything handed to ``handle(_:)`` before the call is done with (written,
    /// committed, processed). The default does nothing, which is right for synchronous handlers.
    /// - Throws: When finishing the work failed; the logger reports it like a failed entry.
    func flush() async throws
}

extension LogEntryHandler {
    /// Synchronous handlers are done when `handle` returns: nothing to wait for.
    public func flush() async throws {}
}
