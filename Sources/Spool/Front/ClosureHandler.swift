/// A synchronous handler made of a closure: it runs on the logging thread, in the `log` call.
///
/// `ClosureHandler` is `Sendable`; so must its closure be.
///
/// ```swift
/// let metrics = ClosureHandler { entry in
///     if entry.level >= .error { errorCounter.increment() }
/// }
/// let log = SpoolLogger(topic: "app", handlers: [metrics])
/// ```
public struct ClosureHandler: LogEntryHandler {
    private let body: @Sendable (LogEntry) throws -> Void

    /// Creates a handler that calls `body` for every entry.
    /// - Parameter body: Called synchronously for each entry; what it throws goes to the
    ///   logger's fallback handler.
    public init(_ body: @escaping @Sendable (LogEntry) throws -> Void) {
        self.body = body
    }

    /// Calls the closure.
    /// - Throws: What the closure throws.
    public func handle(_ entry: LogEntry) throws {
        try body(entry)
    }
}
