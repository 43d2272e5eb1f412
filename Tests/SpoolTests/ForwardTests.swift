import Foundation
import MetricsTestKit
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Fast retries for tests on the real clock: the schedule's shape, in milliseconds.
func quickRetries() -> RetryPolicy {
    RetryPolicy.compressed(base: .milliseconds(1))
}

/// A spool, a transport and one scheduler for a sink at `server`.
struct ForwardRig {
    let directory = TemporaryDirectory()
    let store: SpoolStore
    let transport: Transport
    let reports = Reports()

    /// - Parameter clock: The store's clock (commit times, leases); default the system clock.
    init(clock: (any WallClock)? = nil) throws {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        if let clock { configuration.clock = clock }
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

@Suite(.serialized) struct ForwardFailureTests {
    @Test func poisonEntriesAreDeadLetteredAndTheRestDelivered() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .rejectEntries(containing: "poison", status: 400)) { server in
            try rig.store.registerSink("http")
            try rig.append(40, marker: { [7, 8, 23].contains($0) })
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))))
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let accepted = server.requests.filter { !$0.bodyText.contains("poison") }
            #expect(try ForwardRig.numbers(accepted).sorted() == (0..<40).filter { ![7, 8, 23].contains($0) })
            let letters = try SQL(rig.directory.file("forward.spool")).rows("SELECT entry_id, status, message FROM dead_letters ORDER BY entry_id")
            #expect(letters.map { $0[2] } == ["poison 7", "poison 8", "poison 23"])
            #expect(letters.allSatisfy { $0[1] == "400" })
            #expect(try rig.store.stats().entries == 0)
        }
    }

    @Test func tooLargeBatchesAreSplitUntilTheyFit() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .rejectAbove(bytes: 700, status: 413)) { server in
            try rig.store.registerSink("http")
            try rig.append(30)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))))
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let accepted = server.requests.filter { $0.rawBody.count <= 700 }
            let numbers = try ForwardRig.numbers(accepted)
            #expect(numbers.sorted() == Array(0..<30), "\(numbers)")
            #expect(try rig.store.stats().deadLetters == 0)
        }
    }

    /// A large `batch_size` is still bounded by `batch_bytes` (1 MiB by default): a backlog of
    /// long lines leaves in requests of at most that much text.
    @Test func aLargeBatchSizeIsBoundedByTheDefaultBatchBytes() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            try rig.store.registerSink("http")
            let padding = String(repeating: "é", count: 350)  // 700 bytes of UTF-8
            try rig.store.append(contentsOf: (0..<4000).map { entry($0, message: "entry \($0) \(padding)") })
            let defaults = SinkScheduler.Configuration(name: "http")
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest")))) {
                $0.maxBatchEntries = 10_000
                $0.maxBatchBytes = defaults.maxBatchBytes
            }
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let perRequest = try server.requests.map { try ForwardRig.numbers([$0]).count }
            // ~2.9 MB of messages and contexts: three requests of at most 1 MiB each.
            #expect(perRequest.count == 3, "\(perRequest)")
            #expect(perRequest.allSatisfy { $0 * 700 <= 1 << 20 }, "\(perRequest)")
            // Two batches are in flight by default, so two requests may arrive in either order;
            // each is one run of consecutive ids, and together they are every entry once.
            let batches = try server.requests.map { try ForwardRig.numbers([$0]) }
            #expect(batches.allSatisfy { $0 == Array(($0.first ?? 0)..<(($0.first ?? 0) + $0.count)) }, "\(batches.map(\.first))")
            #expect(batches.flatMap { $0 }.sorted() == Array(0..<4000))
        }
    }

    @Test func unauthorizedPausesTheSinkAndDeadLettersNothing() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .status(401, body: "no org id")) { server in
            try rig.store.registerSink("http")
            try rig.append(25)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))))
            let run = Task { try await scheduler.run() }
            try await server.waitForRequests(3, timeout: .seconds(10))
            run.cancel()
            _ = try? await run.value
            try await rig.shutdown()
            #expect(try rig.store.stats().entries == 25)
            #expect(try rig.store.stats().deadLetters == 0)
            #expect(rig.reports.topics().contains("spool.forward.misconfigured"))
            let loud = rig.reports.all.first { $0.topic == "spool.forward.misconfigured" }
            #expect(loud?.level == .critical)
            #expect(loud?.message.contains("401") == true)
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .first(1, .tooManyRequests(retryAfter: "0"), then: .ok())) { server in
            try rig.store.registerSink("http")
            try rig.append(5)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))))
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            #expect(server.requests.count == 2)
            #expect(scheduler.currentProgress.retries == 1)
        }
    }

    @Test func aThirtySecondOutageCostsABoundedNumberOfRequests() async throws {
        let rig = try ForwardRig()
        let clock = ManualClock()
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            try rig.store.registerSink("http")
            try rig.append(5)
            var configuration = SinkScheduler.Configuration(name: "http")
            configuration.pollInterval = .milliseconds(100)
            let scheduler = SinkScheduler(store: rig.store, sink: NDJSONSink(configuration: .init(url: server.url())),
                                          transport: rig.transport, configuration: configuration, owner: "t", clock: clock,
                                          report: rig.reports.record)
            let run = Task { try await scheduler.run() }
            var elapsed = Duration.zero
            while elapsed < .seconds(30) {
                await eventually("the scheduler waits on the clock") { clock.sleeperCount > 1 }  // beside the lease renewal
                clock.advance(by: .milliseconds(100))
                elapsed += .milliseconds(100)
            }
            run.cancel()
            _ = try? await run.value
            try await rig.shutdown()
            // 1 + 3 quick retries + slow retries until the breaker opens (5 failures), then one
            // probe after the 30 s cool-down at most.
            #expect(server.stats.requestsReceived <= 7, "\(server.stats.requestsReceived) requests")
            #expect(server.stats.requestsReceived >= 4)
            #expect(scheduler.currentProgress.breaker != .closed)
            #expect(try rig.store.stats().entries == 5)
        }
    }

    @Test func theConcurrencyLimitHoldsAcrossSinks() async throws {
        let rig = try ForwardRig()
        let gate = Gate()
        let limited = Transport(configuration: { var c = Transport.Configuration(); c.maximumConcurrentRequests = 2; return c }())
        try await TestHTTPServer.withServer(behaviour: .held(by: gate)) { server in
            let names = ["a", "b", "c", "d"]
            for name in names { try rig.store.registerSink(name) }
            try rig.append(40)
            let schedulers = names.map { name in
                var configuration = SinkScheduler.Configuration(name: name)
                configuration.maxBatchEntries = 5
                configuration.maxBatchWait = .zero
                configuration.maxInFlight = 3
                return SinkScheduler(store: rig.store, sink: NDJSONSink(configuration: .init(url: server.url(path: "/\(name)"))),
                                     transport: limited, configuration: configuration, owner: "t-\(name)")
            }
            let forwarder = Forwarder(schedulers: schedulers, transport: limited)
            let run = Task { try await forwarder.run(until: .empty) }
            try await server.waitUntil { $0.inFlightRequests == 2 }
            #expect(limited.limiter.waiting > 0)
            gate.open()
            try await run.value
            try await limited.shutdown()
            try await rig.shutdown()
            #expect(server.stats.peakInFlightRequests == 2)
            #expect(limited.limiter.peak == 2)
            #expect(try rig.store.stats().entries == 0)
            #expect(server.requests.count == 4 * 8)
        }
    }

    @Test func shutdownDuringAnOutageLosesNothingAndTheNextRunFinishes() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            try rig.store.registerSink("http")
            try rig.append(50)
            let first = rig.scheduler(NDJSONSink(configuration: .init(url: server.url())))
            let run = Task { try await first.run() }
            try await server.waitForRequests(3, timeout: .seconds(10))
            first.requestStop()
            _ = try? await run.value
            #expect(try rig.store.stats().entries == 50)
            #expect(try rig.store.stats().sinks.first?.leaseOwner == nil, "the lease is released on the way out")
            server.behaviour = .ok()
            let second = rig.scheduler(NDJSONSink(configuration: .init(url: server.url())))
            try await second.run(until: .empty)
            try await rig.shutdown()
            #expect(try rig.store.stats().entries == 0)
            let delivered = server.requests.filter { _ in true }.suffix(5)
            #expect(try ForwardRig.numbers(Array(delivered)).sorted() == Array(0..<50))
        }
    }
}

@Suite(.serialized) struct ForwardMetricsTests {
    @Test func metricsCountWhatTheSchedulerDid() async throws {
        let rig = try ForwardRig()
        let metrics = TestMetrics()
        let behaviour = Behaviour.first(2, .status(503), then: .rejectEntries(containing: "poison", status: 400))
        try await TestHTTPServer.withServer(behaviour: behaviour) { server in
            try rig.store.registerSink("http")
            try rig.append(20, marker: { $0 == 5 })
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url()))) {
                $0.metricsFactory = metrics
                $0.maxInFlight = 1
            }
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let dimensions = [("sink", "http")]
            #expect(try metrics.expectCounter("spool_entries_delivered_total", dimensions).totalValue == 19)
            #expect(try metrics.expectCounter("spool_entries_dead_lettered_total", dimensions).totalValue == 1)
            #expect(try metrics.expectCounter("spool_requests_retried_total", dimensions).totalValue == 2)
            #expect(try metrics.expectTimer("spool_request_duration_seconds", dimensions).values.count == server.requests.count)
            // Recorded at the start (the whole backlog), then at most once a second.
            let depth = try metrics.expectRecorder("spool_pending_entries", dimensions).values
            #expect(depth.first == 20)
            #expect(depth.allSatisfy { $0 <= 20 })
        }
    }
}
