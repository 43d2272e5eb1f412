import Foundation
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Receivers that misbehave: the forwarder neither hangs nor loses nor dead-letters anything.
@Suite(.serialized) struct ForwardMisbehavingReceiverTests {
    /// Delivers 15 entries through `behaviour` (switched to `.ok()` after `switchAfter`
    /// requests, if given) and returns the rig and the server's request count.
    func deliver(through behaviour: Behaviour, timeout: Duration = .milliseconds(500)) async throws -> (entries: Int64, deadLetters: Int64, requests: Int) {
        let rig = try ForwardRig()
        var configuration = Transport.Configuration()
        configuration.requestTimeout = timeout
        let transport = Transport(configuration: configuration)
        return try await TestHTTPServer.withServer(behaviour: behaviour) { server in
            try rig.store.registerSink("http")
            try rig.append(15)
            var schedulerConfiguration = SinkScheduler.Configuration(name: "http")
            schedulerConfiguration.retry = quickRetries()
            schedulerConfiguration.breaker.coolDown = .milliseconds(10)
            schedulerConfiguration.maxBatchWait = .zero
            let scheduler = SinkScheduler(store: rig.store, sink: NDJSONSink(configuration: .init(url: server.url())),
                                          transport: transport, configuration: schedulerConfiguration, owner: "t", report: { _ in })
            try await scheduler.run(until: .empty)
            try await transport.shutdown()
            try await rig.shutdown()
            let stats = try rig.store.stats()
            return (stats.entries, stats.deadLetters, server.requests.count)
        }
    }

    @Test func anEndlessBodyIsReadOnlyUpToItsBound() async throws {
        let result = try await deliver(through: .endlessBody(status: 200))
        #expect(result.entries == 0 && result.deadLetters == 0)
    }

    @Test func aResponseDribbledByteByByteStillCounts() async throws {
        let result = try await deliver(through: .dribble(Response(status: 200, body: "ok, slowly"), bytesPerWrite: 1, interval: .milliseconds(1)))
        #expect(result.entries == 0 && result.deadLetters == 0)
    }

    @Test func aTwoHundredWithAMalformedBodyIsDelivered() async throws {
        let result = try await deliver(through: .malformedBody(status: 200))
        #expect(result.entries == 0 && result.deadLetters == 0)
    }

    @Test func aServerThatNeverAnswersTimesOutAndIsRetried() async throws {
        let result = try await deliver(through: .first(2, .hang, then: .ok()), timeout: .milliseconds(300))
        #expect(result.entries == 0 && result.deadLetters == 0)
        #expect(result.requests >= 3)
    }

    @Test func aConnectionResetMidResponseIsRetried() async throws {
        let result = try await deliver(through: .first(2, .resetMidResponse(status: 200), then: .ok()))
        #expect(result.entries == 0 && result.deadLetters == 0)
        #expect(result.requests >= 3)
    }

    @Test func aRedirectLoopIsNotFollowedAndKeepsEverything() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .redirectLoop()) { server in
            try rig.store.registerSink("http")
            try rig.append(15)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url())))
            let run = Task { try await scheduler.run() }
            try await server.waitForRequests(3, timeout: .seconds(10))
            run.cancel()
            _ = try? await run.value
            try await rig.shutdown()
            // Each request went to our URL once: no redirect was followed.
            #expect(server.requests.allSatisfy { $0.path == "/" })
            #expect(try rig.store.stats().entries == 15)
            #expect(try rig.store.stats().deadLetters == 0)
            #expect(rig.reports.topics().contains("spool.forward.misconfigured"))
        }
    }
}
