import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// The sink's lease while a scheduler runs, on a manual clock shared by the spool and the
/// scheduler (as by two processes on one machine): it lasts through every wait longer than the
/// lease, and a scheduler whose lease was taken over stops sending and says so.
@Suite struct ForwardLeaseTests {
    let directory = TemporaryDirectory()
    let clock = ManualClock()
    let reports = Reports()
    let lease = Duration.seconds(30)

    /// A spool on the file of the test, seen through `clock`.
    func store(clock: ManualClock? = nil) throws -> SpoolStore {
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock ?? self.clock
        configuration.report = { _ in }
        return try SpoolStore(path: directory.file("lease.spool"), configuration: configuration)
    }

    func scheduler(_ store: SpoolStore, _ transport: Transport, url: String) -> SinkScheduler {
        var configuration = SinkScheduler.Configuration(name: "http")
        configuration.lease = lease
        configuration.maxBatchWait = .zero
        // After one failure a batch waits a minute (twice the lease) before it is sent again.
        configuration.retry.quickAttempts = 1
        configuration.retry.minimumBackoff = .seconds(60)
        configuration.retry.slowBase = .seconds(60)
        configuration.retry.maximumBackoff = .seconds(60)
        return SinkScheduler(store: store, sink: NDJSONSink(configuration: .init(url: url)), transport: transport,
                             configuration: configuration, owner: "forwarder-1", clock: clock, report: reports.record)
    }

    /// Waits (bounded, in real time) until `count` tasks sleep on the clock: the lease renewal
    /// and the one delivery, in its backoff or pause, with no request out.
    func parked(_ count: Int = 2) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while clock.sleeperCount != count && ContinuousClock.now < deadline { await Task.yield() }
        #expect(clock.sleeperCount == count, "tasks sleeping on the clock")
    }

    enum Wait: String, CaseIterable, Sendable {
        /// 503: the backoff (a minute here; up to 60 s by default).
        case backoff
        /// 429 with `Retry-After: 300`: five minutes.
        case retryAfter
        /// 401: the misconfiguration pause, five minutes.
        case pause

        var behaviour: Behaviour {
            switch self {
            case .backoff: .status(503)
            case .retryAfter: .tooManyRequests(retryAfter: "300")
            case .pause: .status(401)
            }
        }
    }

    @Test(arguments: Wait.allCases)
    func aSchedulerKeepsItsLeaseThroughWaitsLongerThanTheLease(wait: Wait) async throws {
        let store = try store()
        let intruder = try self.store()
        let transport = Transport()
        try await TestHTTPServer.withServer(behaviour: wait.behaviour) { server in
            try store.registerSink("http")
            try store.append(contentsOf: (1...5).map { entry($0) })
            let scheduler = scheduler(store, transport, url: server.url())
            let run = Task { try await scheduler.run() }
            try await server.waitForRequests(1)
            // Ten leases of clock time, a second at a time; at every step another forwarder on
            // the same machine finds the sink held.
            var elapsed = Duration.zero
            var refusals = 0
            while elapsed < lease * 10 {
                await parked()
                clock.advance(by: .seconds(1))
                elapsed += .seconds(1)
                await parked()
                do throws(SpoolError) {
                    try intruder.acquireLease(sink: "http", owner: "forwarder-2", duration: lease)
                    Issue.record("forwarder-2 took the lease after \(elapsed) of \(wait.rawValue)")
                    break
                } catch {
                    #expect(error.code == .leaseHeld)
                    refusals += 1
                }
            }
            #expect(refusals == 300)
            #expect(server.requests.count >= 2, "the batch was sent again after its wait")
            #expect(!reports.topics().contains("spool.forward.lease_lost"))
            run.cancel()
            _ = await run.result
            #expect(try store.stats().entries == 5)
            #expect(try store.stats().sinks.first?.leaseOwner == nil, "released on the way out")
        }
        try await transport.shutdown()
    }

    @Test func aSchedulerWhoseLeaseWasTakenStopsSendingAndReports() async throws {
        let store = try store()
        let transport = Transport()
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            try store.registerSink("http")
            try store.append(contentsOf: (1...5).map { entry($0) })
            let scheduler = scheduler(store, transport, url: server.url())
            let run = Task { try await scheduler.run() }
            try await server.waitForRequests(1)
            await parked()
            // This process is stopped (SIGSTOP) past its lease's expiry: another forwarder, whose
            // clock has moved on, takes the sink over.
            let later = ManualClock(start: clock.now.advanced(by: lease + .seconds(1)))
            let other = try self.store(clock: later)
            try other.acquireLease(sink: "http", owner: "forwarder-2", duration: lease)
            // It resumes: its renewal finds the lease gone, and it stops at once.
            clock.advance(by: lease + .seconds(1))
            await #expect { try await run.value } throws: { ($0 as? SpoolError)?.code == .notLeaseHolder }
            let lost = reports.all.filter { $0.topic == "spool.forward.lease_lost" }
            #expect(lost.count == 1)
            #expect(lost.first?.level == .critical)
            #expect(lost.first?.message.contains("forwarder-1") == true)
            // Its batch's backoff was cancelled with it: the new holder resends the batch, nobody else.
            #expect(clock.sleeperCount == 0)
            clock.advance(by: .seconds(600))
            #expect(server.requests.count == 1)
            #expect(try store.position(of: "http") == 0)
            #expect(try store.stats().sinks.first?.leaseOwner == "forwarder-2", "the holder's lease is left alone")
        }
        try await transport.shutdown()
    }
}
