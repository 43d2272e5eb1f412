import Spool
import Synchronization

/// Collects what a store reports, for assertions.
final class Reports: Sendable {
    private let entries = Mutex<[LogEntry]>([])

    var all: [LogEntry] { entries.withLock { $0 } }

    @Sendable func record(_ entry: LogEntry) { entries.withLock { $0.append(entry) } }

    func topics() -> [String] { all.map(\.topic) }
}
