/// The durable handler: appends every entry to a ``SpoolStore``.
///
/// In ``SpoolStore/Durability/committed`` and ``SpoolStore/Durability/fsync`` modes the `log`
/// call returns after the entry is committed, so an entry logged before a crash is in the spool.
/// In ``SpoolStore/Durability/buffered(maxDelay:)`` mode it returns at once and ``flush()``
/// commits what is waiting (within `maxDelay` the store's ``SpoolStore/run()`` does, when it
/// runs). `SpoolStoreHandler` is a `Sendable` value over the shared store.
///
/// ```swift
/// let store = try SpoolStore(path: "/var/lib/myapp/logs.spool")
/// let log = SpoolLogger(topic: "myapp", handlers: [SpoolStoreHandler(store)])
/// log.info("started")
/// ```
public struct SpoolStoreHandler: LogEntryHandler {
    /// The spool entries are appended to.
    package let store: SpoolStore

    /// Creates a handler appending to `store`.
    /// - Parameter store: The spool; several handlers and loggers may share it.
    public init(_ store: SpoolStore) {
        self.store = store
    }

    /// Appends the entry.
    /// - Throws: ``SpoolError`` from ``SpoolStore/append(_:)`` (`.spoolFull`, `.diskFull`, `.closed`).
    public func handle(_ entry: LogEntry) throws {
        try store.append(entry)
    }

    /// Commits what buffered mode still holds in memory.
    /// - Throws: ``SpoolError`` from ``SpoolStore/flush()``.
    public func flush() async throws {
        try store.flush()
    }
}
