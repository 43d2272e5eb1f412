import Foundation
import Synchronization
import Testing
@testable import Spool
@testable import SpoolCommand

/// The commands' writer of the store's reports: drops once per reason and interval, counted.
@Suite struct StoreReportsTests {
    func drop(_ count: Int64, _ reason: String = "disk_full:dropOldest") -> LogEntry {
        LogEntry(timestamp: 0, level: .warning, topic: "spool.store.dropped", message: "the file system holding the spool is full",
                 context: ["count": .int(count), "reason": .string(reason), "first_id": .int(1), "last_id": .int(count)])
    }

    @Test func dropsAreWrittenOncePerReasonAndIntervalWithTheCountSinceTheLastLine() {
        let written = Mutex<[LogEntry]>([])
        let start = ContinuousClock.now
        let elapsed = Mutex<Duration>(.zero)
        let reports = StoreReports(write: { entry in written.withLock { $0.append(entry) } },
                                   now: { start + elapsed.withLock { $0 } })
        let counts = { written.withLock { $0.map { $0.context?["count"] } } }
        reports.report(drop(3))
        reports.report(drop(4))
        reports.report(drop(5, "overflow:dropNewest"))
        reports.report(LogEntry(timestamp: 0, level: .warning, topic: "spool.store.wal_growing", message: "other reports pass"))
        #expect(counts() == [.int(3), .int(5), nil])
        elapsed.withLock { $0 = .seconds(9) }
        reports.report(drop(6))
        #expect(counts().count == 3)
        elapsed.withLock { $0 = .seconds(10) }
        reports.report(drop(7))
        #expect(counts() == [.int(3), .int(5), nil, .int(17)])
        let last = written.withLock { $0.last }
        #expect(last?.message.hasSuffix("(17 since the last such line)") == true, "\(String(describing: last?.message))")
        // A line that counts several drops names no id range (it would be only the last one's).
        #expect(last?.context?["first_id"] == nil && last?.context?["last_id"] == nil)
        #expect(written.withLock { $0.first }?.context?["first_id"] == .int(1))
        #expect(written.withLock { $0.first }?.message.contains("closing line counts them all") == true)
    }
}
