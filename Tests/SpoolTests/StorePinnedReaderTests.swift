import Foundation
import Synchronization
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// A reader that holds a read transaction (a `sqlite3` shell inside `BEGIN`, a slow export) never
/// stalls or fails an append: checkpoints stay PASSIVE, a try to start the WAL over (a RESTART on
/// the background thread, a PASSIVE with our writer held inline) is one short try that backs off
/// after it finds the reader, the growing WAL is reported, and it starts over once the reader
/// ends. Each with the store's `run()` and without it.
@Suite struct StorePinnedReaderTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    @Test(arguments: [false, true])
    func aPinnedReaderMakesOneRestartTryPerBackoffAndTheGrowingWALIsReported(running: Bool) async throws {
        let clock = ManualClock()
        let reports = Reports()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        configuration.report = reports.record
        configuration.checkpointPages = 16  // RESTART past 256 pages, reported past 512
        let spool = try SpoolStore(path: path, configuration: configuration)
        let background = running ? try await spool.startRunning() : nil
        try await onOwnThread { try checkPinnedReader(spool, clock, reports) }
        background?.cancel()
        try await background?.value
    }

    /// A WAL past the reporting size with no reader in the way is a burst the checkpoint has
    /// not caught up with (a bulk `spool ingest`): it starts over at the next try, and no
    /// `wal_growing` report sends anyone looking for a reader that does not exist.
    @Test func aLargeCommitWithNoReaderIsNotReportedAsAGrowingWAL() throws {
        let reports = Reports()
        var configuration = SpoolStore.Configuration()
        configuration.report = reports.record
        configuration.checkpointPages = 16  // RESTART past 256 pages, reported past 512
        let spool = try SpoolStore(path: path, configuration: configuration)
        // One commit of ~3 MB: about 750 pages, past the reporting size at once.
        try spool.append(contentsOf: (0..<1000).map { entry($0, message: String(repeating: "é", count: 1500)) })
        #expect(spool.checkpointRuns == 1 && spool.checkpointRestarts == (1, 0), "\(spool.checkpointRestarts)")
        #expect(!reports.topics().contains("spool.store.wal_growing"), "\(reports.topics())")
        try spool.append(entry(1000))
        let row = try SQL(path).rows("PRAGMA wal_checkpoint(PASSIVE)").first
        #expect(try #require(row?[1].flatMap { Int($0) }) < 16, "the WAL started over")
        try spool.close()
    }

    func checkPinnedReader(_ spool: SpoolStore, _ clock: ManualClock, _ reports: Reports) throws {
        let reader = try SQL(path)
        try reader.connection.execute("BEGIN")
        _ = try reader.int("SELECT count(*) FROM entries")

        /// Appends one small entry (a commit writes a page or two to the WAL); waits for the
        /// checkpoint it woke, if any.
        func appendWaitingForCheckpoint(_ number: Int) throws {
            let before = spool.checkpointRequests
            try spool.append(entry(number, message: String(repeating: "é", count: 50)))
            if spool.checkpointRequests > before { #expect(spool.waitForCheckpoint(timeout: .seconds(30))) }
        }
        for number in 0..<600 { try appendWaitingForCheckpoint(number) }
        let walPagesBeforeRestarts = try #require(spool.checkpointRestarts.attempts == 1 ? Int(try spool.stats().walBytes / 4120) : nil)
        #expect(walPagesBeforeRestarts >= 512 && walPagesBeforeRestarts < 1024, "\(walPagesBeforeRestarts) WAL pages")
        // The clock stood still: past the RESTART threshold one try found the reader, and the
        // commits after it did not try again (they used to, each holding writers for a second).
        #expect(spool.checkpointRestarts.attempts == 1, "\(spool.checkpointRestarts)")
        #expect(spool.checkpointRestarts.busy == 1)
        #expect(reports.topics().filter { $0 == "spool.store.wal_growing" }.count == 1, "\(reports.topics())")
        let warning = try #require(reports.all.first { $0.topic == "spool.store.wal_growing" })
        #expect(warning.message.contains("read transaction"))
        #expect(try spool.stats().walBytes >= 512 * 4096)

        // Once the backoff has passed, the next commit tries again (and finds the reader still).
        clock.advance(by: Checkpointer.initialBackoff)
        try appendWaitingForCheckpoint(600)
        #expect(spool.checkpointRestarts.attempts == 2 && spool.checkpointRestarts.busy == 2, "\(spool.checkpointRestarts)")

        // The reader ends: the next try restarts the WAL, and the next commit starts it over.
        try reader.connection.execute("COMMIT")
        clock.advance(by: Checkpointer.maximumBackoff)
        try appendWaitingForCheckpoint(601)
        #expect(spool.checkpointRestarts.attempts == 3 && spool.checkpointRestarts.busy == 2, "\(spool.checkpointRestarts)")
        try spool.append(entry(602))
        let row = try SQL(path).rows("PRAGMA wal_checkpoint(PASSIVE)").first
        let walPages = try #require(row?[1].flatMap { Int($0) })
        #expect(walPages < 16, "the WAL started over: \(walPages) pages")
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 603)
    }

    /// Appends beside a reader holding a read transaction for the whole run, from eight threads,
    /// while a forwarder on the same spool delivers to a receiver: no append fails, every entry
    /// arrives, and the WAL kept growing only while the reader held it.
    @Test(arguments: [false, true])
    func appendsAndForwardingGoOnBesideAReaderThatNeverFinishes(running: Bool) async throws {
        var configuration = SpoolStore.Configuration()
        configuration.checkpointPages = 16
        configuration.report = { _ in }
        let spool = try SpoolStore(path: path, configuration: configuration)
        let background = running ? try await spool.startRunning() : nil
        let reader = try SQL(path)
        try reader.connection.execute("BEGIN")
        _ = try reader.int("SELECT count(*) FROM entries")
        try spool.registerSink("http")
        let failures = Atomic<Int>(0)
        try await TestHTTPServer.withServer { server in
            let transport = Transport(configuration: .init())
            var schedulerConfiguration = SinkScheduler.Configuration(name: "http")
            schedulerConfiguration.maxBatchWait = .zero
            schedulerConfiguration.pollInterval = .milliseconds(5)
            let scheduler = SinkScheduler(store: spool, sink: NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))),
                                          transport: transport, configuration: schedulerConfiguration, owner: "test", report: { _ in })
            let forwarding = Task { try await scheduler.run() }
            await onThreads(8) { thread in
                for number in 0..<250 {
                    do { try spool.append(entry(thread * 1000 + number, message: String(repeating: "x", count: 800))) } catch { failures.add(1, ordering: .relaxed) }
                }
            }
            scheduler.finishWhenEmpty()
            try await forwarding.value
            try await transport.shutdown()
            #expect(scheduler.currentProgress.delivered == 2000)
            #expect(try ForwardRig.numbers(server.requests).count == 2000)
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        try reader.connection.execute("COMMIT")
        background?.cancel()
        try await background?.value
    }
}
