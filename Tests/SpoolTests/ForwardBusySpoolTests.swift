import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// `SQLITE_BUSY` on any scheduler step is transient: another connection holding the spool's write
/// lock (a `sqlite3` shell inside `BEGIN IMMEDIATE`, another process's long transaction) is waited
/// out with backoff, reported once, and never ends the sink.
@Suite struct ForwardBusySpoolTests {
    @Test func aSpoolLockedByAnotherConnectionIsWaitedOutNotTheEndOfTheSink() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("busy.spool")
        var configuration = SpoolStore.Configuration()
        configuration.busyTimeout = .milliseconds(20)
        configuration.report = { _ in }
        let store = try SpoolStore(path: path, configuration: configuration)
        try store.registerSink("http")
        try store.append(contentsOf: (0..<20).map { entry($0) })
        let locker = try SQL(path)
        try locker.connection.execute("BEGIN IMMEDIATE")

        let (busy, signal) = AsyncStream<Void>.makeStream()
        let reports = Reports()
        try await TestHTTPServer.withServer { server in
            let transport = Transport(configuration: .init())
            var schedulerConfiguration = SinkScheduler.Configuration(name: "http")
            schedulerConfiguration.maxBatchWait = .zero
            schedulerConfiguration.maxBatchEntries = 5
            let scheduler = SinkScheduler(store: store, sink: NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))),
                                          transport: transport, configuration: schedulerConfiguration, owner: "test",
                                          report: { entry in
                                              reports.record(entry)
                                              if entry.topic == "spool.forward.busy" { signal.yield() }
                                          })
            // The stream also hears of the scheduler's end, so a scheduler that ended instead of
            // waiting fails the test rather than hanging it.
            let forwarding = Task {
                defer { signal.yield() }
                try await scheduler.run(until: .empty)
            }
            // The lease cannot be taken while the lock is held: the scheduler says so and waits.
            for await _ in busy { break }
            try #require(reports.topics().contains("spool.forward.busy"))
            try locker.connection.execute("COMMIT")
            try await forwarding.value
            try await transport.shutdown()
            #expect(scheduler.currentProgress.delivered == 20)
            #expect(try ForwardRig.numbers(server.requests).sorted() == Array(0..<20))
        }
        #expect(reports.topics().filter { $0 == "spool.forward.busy" }.count == 1, "\(reports.topics())")
        #expect(try store.stats().entries == 0)
    }

    /// The claim ahead and an acknowledgement can wait out the same busy spool at once. One of
    /// them getting through while the other still waits does not end the episode, so the
    /// warning is not said again; once no call waits, the next busy spool is a new episode.
    @Test func aBusyEpisodeIsReportedOnceWhateverCallsOverlapIt() async throws {
        let directory = TemporaryDirectory()
        let store = try SpoolStore(path: directory.file("episode.spool"))
        let clock = ManualClock()
        let reports = Reports()
        let transport = Transport(configuration: .init())
        let scheduler = SinkScheduler(store: store, sink: NDJSONSink(configuration: .init(url: "http://127.0.0.1:9/ingest")),
                                      transport: transport, configuration: .init(name: "http"), owner: "test",
                                      clock: clock, report: reports.record)
        let locked = Shared(true)
        let attempts = Shared(0)
        let busy = SpoolError(.io, "database is locked", sqliteCode: 5)  // SQLITE_BUSY
        func claim() -> Task<Int, any Error> {
            Task {
                try await scheduler.withStore("claim") { _ throws(SpoolError) -> Int in
                    attempts.update { $0 += 1 }
                    if locked.value { throw busy }
                    return 1
                }
            }
        }
        let busyReports = { reports.topics().filter { $0 == "spool.forward.busy" }.count }

        let waiting = claim()
        await eventually("the claim waits out the lock") { clock.sleeperCount == 1 && attempts.value == 1 }
        #expect(busyReports() == 1)
        // An acknowledgement meets the lock too, then gets through while the claim still
        // waits: one episode, said once.
        let acknowledgements = Shared(0)
        let acknowledging = Task {
            try await scheduler.withStore("acknowledge") { _ throws(SpoolError) -> Int in
                acknowledgements.update { $0 += 1 }
                if acknowledgements.value == 1 { throw busy }
                return 2
            }
        }
        await eventually("the acknowledgement waits too") { clock.sleeperCount == 2 && acknowledgements.value == 1 }
        clock.advance(by: .milliseconds(10))
        #expect(try await acknowledging.value == 2)
        await eventually("the claim tried again") { clock.sleeperCount == 1 && attempts.value == 2 }
        clock.advance(by: .milliseconds(20))
        await eventually("and again") { clock.sleeperCount == 1 && attempts.value == 3 }
        #expect(busyReports() == 1, "\(reports.topics())")
        locked.update { $0 = false }
        clock.advance(by: .milliseconds(40))
        #expect(try await waiting.value == 1)

        // No call waits any more: a lock now is a new episode, said again.
        locked.update { $0 = true }
        let again = claim()
        await eventually("the next claim waits") { clock.sleeperCount == 1 && attempts.value == 5 }
        #expect(busyReports() == 2)
        locked.update { $0 = false }
        clock.advance(by: .milliseconds(10))
        #expect(try await again.value == 1)
        try await transport.shutdown()
    }
}
