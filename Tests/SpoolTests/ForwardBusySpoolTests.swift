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
}
