import Foundation
import SpoolTesting
import Testing
@testable import Spool

/// Buffered mode when commits fail: what a caller was told failed is not stored later, the
/// queue stays bounded, and the store can end on its committer's thread.
@Suite struct StoreBufferedFailureTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("buffered.spool") }

    /// Buffered, the timer on a clock that never moves (only appends wake the committer), a
    /// high-water mark of 40 (a quarter: 10), and no busy wait: a held write lock fails a commit
    /// at once.
    func configuration(_ reports: Reports) -> SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration(durability: .buffered(maxDelay: .seconds(3600)))
        configuration.clock = ManualClock()
        configuration.bufferedHighWater = 40
        configuration.busyTimeout = .zero
        configuration.report = reports.record
        return configuration
    }

    /// Another connection holding the write lock: every commit fails with SQLITE_BUSY.
    func holdWriteLock() throws -> SQL {
        let blocker = try SQL(path)
        try blocker.connection.execute("BEGIN IMMEDIATE")
        return blocker
    }

    func storedMessages() throws -> [String] {
        try SQL(path).rows("SELECT message FROM entries ORDER BY id").map { $0[0] ?? "" }
    }

    @Test func aCallerToldItsCommitFailedTakesItsRowsOutOfTheQueue() throws {
        let spool = try SpoolStore(path: path, configuration: configuration(Reports()))
        try spool.append(contentsOf: (1...9).map { entry($0, message: "returned \($0)") })  // below a quarter: queued
        let blocker = try holdWriteLock()
        // 9 + 31 reaches the mark: this append waits for the commit, which fails.
        #expect { try spool.append(contentsOf: (10...40).map { entry($0, message: "failed \($0)") }) } throws: {
            ($0 as? SpoolError)?.sqliteCode.map { $0 & 0xFF } == 5  // SQLITE_BUSY
        }
        #expect(spool.uncommittedCount == 9)
        try blocker.connection.execute("ROLLBACK")
        try spool.flush()
        #expect(try storedMessages() == (1...9).map { "returned \($0)" })
        try spool.close()
    }

    @Test func theQueueStaysBoundedWhileEveryCommitFails() throws {
        let reports = Reports()
        let spool = try SpoolStore(path: path, configuration: configuration(reports))
        let blocker = try holdWriteLock()
        var returned: [Int] = []
        for number in 1...400 {
            do {
                try spool.append(entry(number, message: "entry \(number)"))
                returned.append(number)
            } catch {
                #expect(error.sqliteCode.map { $0 & 0xFF } == 5)
            }
            // The committer thread fails beside these appends; whatever it holds counts too.
            #expect(spool.uncommittedCount <= 40, "after append \(number)")
        }
        #expect(returned.count < 100, "\(returned.count) appends returned")
        try blocker.connection.execute("ROLLBACK")
        try spool.flush()
        // Exactly the appends that returned are stored, in order; none that threw.
        #expect(try storedMessages() == returned.map { "entry \($0)" })
        try spool.close()
    }

    /// The committer holds the store only while it commits; when the last other reference goes
    /// meanwhile, the store's deinit runs on the committer's thread and must not wait for it.
    @Test func theStoreCanEndOnItsCommitterThread() throws {
        let holder = Shared<SpoolStore?>(nil)
        let testLetGo = DispatchSemaphore(value: 0)
        let reports = Reports()
        var configuration = configuration(reports)
        configuration.report = { entry in
            reports.record(entry)
            // On the committer thread, while its round holds the store: once the test has let
            // go of it, drop the last other reference.
            if entry.topic == "spool.store.buffered_commit_failed" && holder.value != nil {
                testLetGo.wait()
                holder.update { $0 = nil }
            }
        }
        let committer: BackgroundCommitter
        let blocker: SQL
        do {
            let spool = try SpoolStore(path: path, configuration: configuration)
            committer = try #require(spool.committer)
            holder.update { $0 = spool }
            blocker = try holdWriteLock()
            try spool.append(contentsOf: (1...10).map { entry($0) })  // a quarter: wakes the committer
        }
        testLetGo.signal()
        #expect(committer.waitForExit(timeout: .seconds(30)), "the committer thread waited for itself")
        #expect(holder.value == nil)
        // The store said what it could not commit when it ended.
        #expect(reports.topics().contains("spool.store.dropped"), "\(reports.topics())")
        try blocker.connection.execute("ROLLBACK")
    }
}
