import Foundation
import SpoolTesting
import Testing
@testable import Spool

/// Buffered mode when commits fail: what a caller was told failed is not stored later, the
/// queue stays bounded, and a run that cannot commit what waits as it stops says so.
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

    /// Without `run()`, an overdue commit that fails keeps the rows and is tried again by the
    /// first append after another delay, not by every append (each try can wait the busy
    /// timeout for another process's lock).
    @Test func withoutRunAFailedOverdueCommitIsTriedAgainAfterAnotherDelay() throws {
        let reports = Reports()
        let clock = ManualClock()
        var configuration = configuration(reports)
        configuration.clock = clock
        configuration.durability = .buffered(maxDelay: .milliseconds(200))
        let spool = try SpoolStore(path: path, configuration: configuration)
        let blocker = try holdWriteLock()
        func failures() -> Int { reports.topics().filter { $0 == "spool.store.buffered_commit_failed" }.count }
        try spool.append(entry(1, message: "kept 1"))
        clock.advance(by: .milliseconds(200))
        try spool.append(entry(2, message: "kept 2"))  // overdue: tries, fails
        #expect(failures() == 1)
        try spool.append(entry(3, message: "kept 3"))
        #expect(failures() == 1, "every append tried again")
        clock.advance(by: .milliseconds(200))
        try spool.append(entry(4, message: "kept 4"))
        #expect(failures() == 2)
        try blocker.connection.execute("ROLLBACK")
        clock.advance(by: .milliseconds(200))
        try spool.append(entry(5, message: "kept 5"))
        #expect(spool.uncommittedCount == 0)
        #expect(try storedMessages() == (1...5).map { "kept \($0)" })
    }

    /// The committer's last round, as `run()` stops, fails: `run()` throws its error, the
    /// failure is reported, and the entries stay queued for the next commit.
    @Test func aRunWhoseLastCommitFailsThrowsItAndKeepsTheEntries() async throws {
        let reports = Reports()
        let spool = try SpoolStore(path: path, configuration: configuration(reports))
        let running = try await spool.startRunning()
        let blocker = try holdWriteLock()
        try spool.append(contentsOf: (1...5).map { entry($0, message: "kept \($0)") })
        running.cancel()
        await #expect { try await running.value } throws: { ($0 as? SpoolError)?.sqliteCode.map { $0 & 0xFF } == 5 }
        #expect(reports.topics().contains("spool.store.buffered_commit_failed"), "\(reports.topics())")
        #expect(spool.uncommittedCount == 5)
        try blocker.connection.execute("ROLLBACK")
        try spool.close()
        #expect(try storedMessages() == (1...5).map { "kept \($0)" })
    }
}
