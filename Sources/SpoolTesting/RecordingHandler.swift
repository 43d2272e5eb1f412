import Spool
import Synchronization

/// A handler that keeps every entry in memory, for tests of code that logs.
///
/// `RecordingHandler` is a `Sendable` reference: give it to a ``SpoolLogger`` (or behind a
/// ``SpoolLogHandler`` to swift-log) and read ``entries`` afterwards.
///
/// ```swift
/// let recorder = RecordingHandler()
/// let log = SpoolLogger(topic: "billing", handlers: [recorder])
/// charge(order, log: log)
/// #expect(recorder.entries.map(\.message) == ["charged"])
/// ```
public final class RecordingHandler: LogEntryHandler {
    private let recorded = Mutex<[LogEntry]>([])
    private let onEntry: (@Sendable (LogEntry) -> Void)?

    /// Creates an empty recorder.
    /// - Parameter onEntry: Called with each entry after it is recorded, on the logging thread;
    ///   a test can count, signal or check there. Default none.
    public init(onEntry: (@Sendable (LogEntry) -> Void)? = nil) {
        self.onEntry = onEntry
    }

    /// Records the entry, then calls the callback.
    public func handle(_ entry: LogEntry) {
        recorded.withLock { $0.append(entry) }
        onEntry?(entry)
    }

    /// Every entry recorded since creation or the last ``clear()``, in order.
    public var entries: [LogEntry] {
        recorded.withLock { $0 }
    }

    /// Forgets every recorded entry.
    public func clear() {
        recorded.withLock { $0.removeAll() }
    }
}
