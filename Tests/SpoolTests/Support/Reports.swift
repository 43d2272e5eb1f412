import Spool
import Synchronization

/// Collects what a store reports, for assertions.
final class Reports: Sendable {
    private let entries = Mutex<[LogEntry]>([])

    var all: [LogEntry] { entries.withLock { $0 } }

    @Sendable func record(_ entry: LogEntry) { entries.withLock { $0.append(entry) } }

    func topics() -> [String] { all.map(\.topic) }
}

/// A value shared with tasks in a test.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { mutex.withLock { body(&$0) } }
}
