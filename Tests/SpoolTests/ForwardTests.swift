import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool

/// Fast retries for tests on the real clock: the schedule's shape, in milliseconds.
func quickRetries() -> RetryPolicy {
    var policy = RetryPolicy()
    policy.quickBase = .milliseconds(1)
    policy.quickJitter = .milliseconds(1)
    policy.slowBase = .milliseconds(5)
    policy.minimumBackoff = .milliseconds(1)
    policy.maximumBackoff = .milliseconds(20)
    policy.maximumRetryAfter = .milliseconds(50)
    policy.misconfigurationPause = .milliseconds(20)
    return policy
}

/// A spool, a transport and one scheduler for a sink at `server`.
struct ForwardRig {
    let directory = TemporaryDirectory()
    let store: SpoolStore
    let transport: Transport
    let reports = Reports()

    init() throws {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        store = try SpoolStore(path: directory.file("forward.spool"), configuration: configuration)
        var transportConfiguration = Transport.Configuration()
        transportConfiguration.requestTimeout = .seconds(2)
        transport = Transport(configuration: transportConfiguration)
    }

    func scheduler(_ sink: any SinkProtocol, name: String = "http", configure: (inout SinkScheduler.Configuration) -> Void = { _ in }) -> SinkScheduler {
        var configuration = SinkScheduler.Configuration(name: name)
        configuration.retry = quickRetries()
        configuration.maxBatchEntries = 10
        configuration.maxBatchWait = .zero
        configuration.pollInterval = .milliseconds(5)
        configuration.breaker.coolDown = .milliseconds(10)
        configure(&configuration)
        return SinkScheduler(store: store, sink: sink, transport: transport, configuration: configuration,
                             owner: "test-\(UUID().uuidString.prefix(6))", report: reports.record)
    }

    func append(_ count: Int, from start: Int = 0, marker: (Int) -> Bool = { _ in false }) throws {
        try store.append(contentsOf: (start..<(start + count)).map {
            entry($0, message: marker($0) ? "poison \($0)" : "entry \($0)")
        })
    }

    /// The "n" of every entry the server received, in arrival order.
    static func numbers(_ requests: [RecordedRequest]) throws -> [Int] {
        try requests.flatMap { request in
            try request.bodyText.split(separator: "\n").map { line -> Int in
                guard case .object(let object) = try JSONValue(parsing: String(line)),
                      case .object(let context) = object["context"], case .int(let n) = context["n"] else { return -1 }
                return Int(n)
            }
        }
    }

    func shutdown() async throws { try await transport.shutdown() }
}

@Suite(.serialized) struct ForwardTests {
    @Test(arguments: [1, 3])
    func anOutageThenRecoveryDeliversEverythingNothingLost(maxInFlight: Int) async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .failFor(7, status: 503)) { server in
            try rig.store.registerSink("http")
            try rig.append(95)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest")))) {
                $0.maxInFlight = maxInFlight
            }
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let numbers = try ForwardRig.numbers(Array(server.requests.dropFirst(7)))
            if maxInFlight == 1 {
                #expect(numbers == Array(0..<95), "K=1 delivers in strict order")
            } else {
                #expect(numbers.sorted() == Array(0..<95), "pipelined: every entry once")
            }
            #expect(try rig.store.stats().entries == 0)
            #expect(scheduler.currentProgress.delivered == 95)
            #expect(scheduler.currentProgress.retries == 7)
        }
    }

    @Test func cancellingASchedulerAbandonsABatchInBackoffAtOnce() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            try rig.store.registerSink("http")
            try rig.append(5)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest")))) {
                // After the first failure the batch waits a minute: only cancellation can end it.
                $0.retry.quickAttempts = 1
                $0.retry.minimumBackoff = .seconds(60)
                $0.retry.slowBase = .seconds(60)
                $0.retry.maximumBackoff = .seconds(60)
            }
            let run = Task { try await scheduler.run(until: .empty) }
            try await server.waitForRequests(1)
            let started = ContinuousClock.now
            run.cancel()
            _ = await run.result
            #expect(ContinuousClock.now - started < .seconds(5), "the delivery in backoff was cancelled with its scheduler")
            #expect(server.requests.count == 1)
            #expect(try rig.store.stats().entries == 5)
            #expect(try rig.store.stats().sinks.first?.leaseOwner == nil)
            try await rig.shutdown()
        }
    }

    @Test func aMisconfiguredAttemptCountsAsOneRequest() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .first(1, .status(401), then: .ok())) { server in
            try rig.store.registerSink("http")
            try rig.append(3)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))))
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            #expect(server.requests.count == 2)
            #expect(scheduler.currentProgress.requests == 2)
            #expect(scheduler.currentProgress.paused == false, "the success after the pause clears it")
            #expect(try rig.store.stats().deadLetters == 0)
        }
    }
}
