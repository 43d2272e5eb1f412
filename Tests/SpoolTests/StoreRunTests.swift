import Foundation
import SpoolTesting
import Testing
@testable import Spool

/// The store's background work starts and stops with `run()`, never with `init`; without it
/// the store still checkpoints (inline) and buffered mode still commits (without a timer).
@Suite struct StoreRunTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    /// Buffered, a timer that never fires by itself, checkpoints every 16 pages.
    func bufferedConfiguration(_ clock: ManualClock, _ reports: Reports) -> SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration(durability: .buffered(maxDelay: .milliseconds(200)))
        configuration.clock = clock
        configuration.report = reports.record
        configuration.checkpointPages = 16
        return configuration
    }

    func stored() throws -> Int64 { try SQL(path).int("SELECT count(*) FROM entries") ?? -1 }

    @Test func noThreadRunsBeforeRunAndCancellingRunCommitsWhatWaitsAndStopsThem() async throws {
        let clock = ManualClock()
        let spool = try SpoolStore(path: path, configuration: bufferedConfiguration(clock, Reports()))
        // Past the checkpoint threshold and the high-water mark: the checkpoints ran, inline.
        try spool.append(contentsOf: (0..<20_000).map { entry($0, message: String(repeating: "x", count: 100)) })
        try spool.flush()
        #expect(spool.checkpointRuns > 0)
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 0)

        let running = try await spool.startRunning()
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 2)
        try spool.append(contentsOf: (20_000..<20_010).map { entry($0) })
        #expect(spool.uncommittedCount == 10)
        running.cancel()
        try await running.value
        #expect(spool.uncommittedCount == 0)
        #expect(try stored() == 20_010)
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 0)
        #expect(!spool.isRunning)
    }

    @Test func aSecondRunAtTheSameTimeThrowsAndOneAfterTheFirstRuns() async throws {
        let spool = try SpoolStore(path: path)
        let first = try await spool.startRunning()
        let second = Task { try await spool.run() }
        // Cancelled at once: were it not refused, it would start, stop and return normally.
        second.cancel()
        await #expect { try await second.value } throws: { error in
            guard let error = error as? SpoolError else { return false }
            return error.code == .inUse && error.message.contains("runs already")
        }
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 1)
        first.cancel()
        try await first.value
        let third = try await spool.startRunning()
        third.cancel()
        try await third.value
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 0)
    }

    @Test func closingTheStoreEndsItsRun() async throws {
        let clock = ManualClock()
        let spool = try SpoolStore(path: path, configuration: bufferedConfiguration(clock, Reports()))
        let running = try await spool.startRunning()
        try spool.append(entry(1))
        try spool.close()
        // Bounded: a run that close() did not end fails here instead of hanging the test.
        for _ in 0..<100_000 where spool.isRunning { await Task.yield() }
        #expect(!spool.isRunning, "close() did not end run()")
        running.cancel()
        try await running.value
        #expect(try stored() == 1)
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 0)
        await #expect { try await spool.run() } throws: { ($0 as? SpoolError)?.code == .closed }
    }

    /// Without `run()` there is no timer: the first append that finds the oldest waiting entry
    /// older than the delay commits what waits, and that entries waited is said once.
    @Test func withoutRunAnAppendCommitsOnceTheOldestEntryIsOlderThanTheDelay() throws {
        let clock = ManualClock()
        let reports = Reports()
        let spool = try SpoolStore(path: path, configuration: bufferedConfiguration(clock, reports))
        try spool.append(entry(1))
        clock.advance(by: .milliseconds(150))
        try spool.append(entry(2))
        #expect(spool.uncommittedCount == 2)
        clock.advance(by: .milliseconds(50))
        try spool.append(entry(3))
        #expect(spool.uncommittedCount == 0)
        #expect(try stored() == 3)

        try spool.append(entry(4))
        clock.advance(by: .milliseconds(300))
        try spool.append(entry(5))
        #expect(spool.uncommittedCount == 0)
        try spool.append(entry(6))
        clock.advance(by: .milliseconds(300))
        try spool.append(entry(7))
        #expect(spool.uncommittedCount == 0)
        #expect(try stored() == 7)
        let said = reports.all.filter { $0.topic == "spool.store.buffered_without_run" }
        #expect(said.count == 1, "\(reports.topics())")
        #expect(said.first?.message.contains("run()") == true)
        #expect(said.first?.context?["waited_ms"] == .int(300))
    }

    /// One appender, committed mode, no `run()`: the WAL passes the threshold (16 pages) over
    /// and over, and the appender's own PASSIVE checkpoints let it start over each time.
    @Test func withoutRunInlineCheckpointsKeepTheWALBounded() async throws {
        var configuration = SpoolStore.Configuration()
        configuration.checkpointPages = 16
        let spool = try SpoolStore(path: path, configuration: configuration)
        let walPath = path + "-wal"
        try await onOwnThread {
            var largest: Int64 = 0
            for batch in 0..<200 {
                // About a page per append: past the threshold every 16 or so.
                for number in 0..<10 { try spool.append(entry(batch * 10 + number, message: String(repeating: "x", count: 3000))) }
                let size = (try FileManager.default.attributesOfItem(atPath: walPath)[.size] as? NSNumber)?.int64Value ?? 0
                largest = max(largest, size)
            }
            #expect(spool.checkpointRuns >= 2000 / 16 - 10, "\(spool.checkpointRuns) checkpoints")
            // The threshold and a commit or two; without the checkpoints, 2000 pages or more.
            #expect(largest <= 40 * 4120, "the WAL reached \(largest) bytes")
        }
        #expect(spool.backgroundThreads.load(ordering: .relaxed) == 0)
        #expect(try stored() == 2000)
    }
}
