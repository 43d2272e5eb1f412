import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// In a backlog the scheduler claims, encodes and compresses the next batch while the one
/// before is acknowledged, and that batch waits at a gate: nothing of it is sent before the
/// acknowledgement has committed (and its entries are synced). So no more than `maxInFlight`
/// batches are ever sent and not acknowledged, and nothing sent can vanish with a power cut.
@Suite struct ForwardClaimAheadTests {
    @Test func aBatchClaimedAheadIsSentOnlyOnceTheAcknowledgementBeforeItCommitted() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("ahead.spool")
        var configuration = SpoolStore.Configuration()
        configuration.busyTimeout = .milliseconds(5)
        configuration.report = { _ in }
        let store = try SpoolStore(path: path, configuration: configuration)
        try store.registerSink("http")
        try store.append(contentsOf: (0..<10).map { entry($0) })
        let clock = ManualClock()
        let reports = Reports()
        // The sink's stored position as each request arrives, read as a `sqlite3` user would.
        let positions = Shared<[Int64]>([])
        let firstAnswer = Gate()
        try await TestHTTPServer.withServer { server in
            let answered = Shared(0)
            server.behaviour = Behaviour { _ in
                let position = (try? SQL(path).int("SELECT position FROM sinks WHERE name = 'http'")) ?? nil
                positions.update { $0.append(position ?? -1) }
                var first = false
                answered.update { first = $0 == 0; $0 += 1 }
                return first ? .held(firstAnswer, .respond(Response(status: 204))) : .respond(Response(status: 204))
            }
            let transport = Transport(configuration: .init())
            var schedulerConfiguration = SinkScheduler.Configuration(name: "http")
            schedulerConfiguration.maxBatchWait = .zero
            schedulerConfiguration.maxBatchEntries = 5
            schedulerConfiguration.maxInFlight = 1
            let scheduler = SinkScheduler(store: store, sink: NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))),
                                          transport: transport, configuration: schedulerConfiguration, owner: "test",
                                          clock: clock, report: reports.record)
            let forwarding = Task { try await scheduler.run(until: .empty) }
            try await server.waitForRequests(1)
            // Another connection takes the write lock, so the first batch's acknowledgement
            // cannot commit: it backs off on the manual clock, which only the test moves.
            let locker = try SQL(path)
            try locker.connection.execute("BEGIN IMMEDIATE")
            firstAnswer.open()
            // Parked on the clock: the lease's renewal and the acknowledgement's backoff (the
            // report comes before the backoff's sleep; advancing before it parks would be lost).
            await eventually("the acknowledgement waits out the lock") {
                reports.topics().contains("spool.forward.busy") && clock.sleeperCount == 2
            }
            await eventually("the next batch is claimed ahead") { scheduler.currentProgress.inFlight == 1 }
            // Time for a batch that did not wait at its gate to go out (bounded: it never does).
            for _ in 0..<20_000 where server.requests.count < 2 { await Task.yield() }
            #expect(server.requests.count == 1, "a batch was sent before the acknowledgement before it committed")
            try locker.connection.execute("COMMIT")
            clock.advance(by: .milliseconds(10))
            try await forwarding.value
            try await transport.shutdown()
            #expect(try ForwardRig.numbers(server.requests) == Array(0..<10))
        }
        // The second request arrived with the first batch's acknowledgement already committed.
        #expect(positions.value.count == 2)
        #expect(positions.value.first == 0)
        #expect((positions.value.last ?? 0) >= 5, "\(positions.value)")
        #expect(try store.stats().entries == 0)
    }
}
