import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// The Pushgateway sink's text format, grouping path and counting, against hand-written
/// expectations from protocols.md §2.
@Suite struct SinkPushgatewayTests {
    let directory = TemporaryDirectory()

    func openStore() throws -> SpoolStore {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        return try SpoolStore(path: directory.file("counters.spool"), configuration: configuration)
    }

    func sink(_ store: SpoolStore, job: String = "log_forwarder", instance: String = "host-7") throws -> PushgatewaySink {
        try PushgatewaySink(configuration: .init(url: "http://127.0.0.1:9091/", job: job, instance: instance), store: store)
    }

    // MARK: - Encoding

    @Test func theBodyMatchesTheHandWrittenTextFormat() throws {
        let store = try openStore()
        let counters = [
            EntryCounter(level: .info, topic: "app", value: 10234),
            EntryCounter(level: .error, topic: #"disk "full" at C:\q"# + "\nsecond line", value: 1),
            EntryCounter(level: .error, topic: "billing.payment", value: 3),
        ]
        let expected = #"""
            # HELP spool_log_entries_total Log entries spooled, by level and topic.
            # TYPE spool_log_entries_total counter
            spool_log_entries_total{level="info",topic="app"} 10234
            spool_log_entries_total{level="error",topic="disk \"full\" at C:\\q\nsecond line"} 1
            spool_log_entries_total{level="error",topic="billing.payment"} 3

            """#
        #expect(try sink(store).body(counters) == expected)
    }

    @Test func theRequestIsAPutOfTextFormatToTheGroupingKeyPath() throws {
        let request = try sink(try openStore()).request([EntryCounter(level: .info, topic: "app", value: 1)])
        #expect(request.method == "PUT")
        #expect(request.url == "http://127.0.0.1:9091/metrics/job/log_forwarder/instance/host-7")
        #expect(request.headers == [SinkRequest.Header("Content-Type", "text/plain; version=0.0.4")])
        #expect(String(decoding: request.body, as: UTF8.self).hasSuffix(" 1\n"), "the last line ends with a newline")
    }

    @Test func noCountersIsAnEmptyBody() throws {
        #expect(try sink(try openStore()).body([]) == "")
    }

    @Test func helpTextAndNamesAreEscapedAndSanitized() throws {
        #expect(PrometheusText.helpText("a \\ b\nc \"d\"") == #"a \\ b\nc "d""#)
        #expect(PrometheusText.metricName("spool.log-entries total") == "spool_log_entries_total")
        #expect(PrometheusText.metricName("9lives") == "_9lives")
        #expect(PrometheusText.metricName("rule:name") == "rule_name")
        #expect(PrometheusText.metricName("") == "_")
        #expect(PrometheusText.labelName("__reserved") == "_reserved")
        #expect(PrometheusText.labelName("data-centre") == "data_centre")
        #expect(PrometheusText.labelName("zoné") == "zon_")
    }

    @Test func groupingValuesWithASlashOrEmptyUseBase64AndOthersPercentEncoding() {
        // protocols.md §2: /metrics/job/fwd/path@base64/L3Zhci90bXA → path="/var/tmp".
        #expect(PrometheusText.groupingPath([("job", "fwd"), ("path", "/var/tmp")]) == "/metrics/job/fwd/path@base64/L3Zhci90bXA")
        #expect(PrometheusText.groupingPath([("job", "fwd"), ("instance", "")]) == "/metrics/job/fwd/instance@base64/=")
        #expect(PrometheusText.groupingPath([("job", "a b?c%"), ("instance", "ü")]) == "/metrics/job/a%20b%3Fc%25/instance/%C3%BC")
        // base64url: '-' and '_' instead of '+' and '/', no padding ("??>" is "Pz8+" in base64).
        #expect(PrometheusText.base64URL("/??>") == "Lz8_Pg")
    }

    @Test func aBadConfigurationIsRefusedAtInit() throws {
        let store = try openStore()
        #expect(throws: SpoolError.self) { try PushgatewaySink(configuration: .init(url: "ftp://gateway:9091"), store: store) }
        #expect(throws: SpoolError.self) { try PushgatewaySink(configuration: .init(url: "http://gateway:9091", job: ""), store: store) }
        #expect(throws: SpoolError.self) {
            try PushgatewaySink(configuration: .init(url: "http://gateway:9091", groupingLabels: ["instance": "x"]), store: store)
        }
    }

    @Test func statusesArePushgatewayMeanings() {
        #expect(Verdict.standard(SinkResponse(status: 200), table: .pushgateway) == .delivered)
        if case .misconfigured = Verdict.standard(SinkResponse(status: 400, body: Array("type clash".utf8)), table: .pushgateway) {} else {
            Issue.record("a 400 is about the whole counter state, never an entry: misconfigured")
        }
        if case .retry = Verdict.standard(SinkResponse(status: 503), table: .pushgateway) {} else { Issue.record("503 is transient") }
    }

    // MARK: - Counting

    @Test func countingAddsEachEntryOnceWhateverTheOrderOrRepetition() throws {
        let store = try openStore()
        try store.registerSink("pushgateway")
        try store.append(contentsOf: (1...20).map { entry($0, level: $0 % 4 == 0 ? .error : .info, topic: $0 <= 10 ? "a" : "b") })
        // A pipelined later batch counted first counts the earlier one's entries too.
        #expect(try store.count(sink: "pushgateway", through: 15) == 15)
        #expect(try store.count(sink: "pushgateway", through: 10) == 0, "an earlier batch adds nothing")
        #expect(try store.count(sink: "pushgateway", through: 15) == 0, "a retry adds nothing")
        #expect(try store.count(sink: "pushgateway", through: 20) == 5)
        #expect(try store.countedThrough(sink: "pushgateway") == 20)
        #expect(try store.counters(sink: "pushgateway") == [
            EntryCounter(level: .info, topic: "a", value: 8), EntryCounter(level: .info, topic: "b", value: 7),
            EntryCounter(level: .error, topic: "a", value: 2), EntryCounter(level: .error, topic: "b", value: 3),
        ])
        #expect(throws: SpoolError.self) { try store.count(sink: "nobody", through: 1) }
    }

    @Test func aBatchClaimedAgainAfterACrashBeforeItsAcknowledgementIsNotCountedTwice() throws {
        do {
            let store = try openStore()
            try store.registerSink("pushgateway")
            try store.append(contentsOf: (1...6).map { entry($0, level: .warning) })
            let sink = try sink(store)
            let batch = try store.claim(sink: "pushgateway", owner: "forwarder")
            #expect(try store.count(sink: "pushgateway", through: batch.lastID) == 6)
            _ = sink  // crash here: counted, never acknowledged
            try store.close()
        }
        let store = try openStore()
        // The restarted forwarder (same owner) takes its lease back.
        let batch = try store.claim(sink: "pushgateway", owner: "forwarder")
        #expect(batch.entries.count == 6, "the unacknowledged batch comes back")
        #expect(try store.count(sink: "pushgateway", through: batch.lastID) == 0)
        try store.acknowledge(sink: "pushgateway", owner: "forwarder", through: batch.lastID, delivered: 6)
        #expect(try store.counters(sink: "pushgateway") == [EntryCounter(level: .warning, topic: "test", value: 6)])
    }

    @Test func theSchedulerCountsEverythingAndARestartKeepsTheCounts() async throws {
        do {
            let rig = try PushgatewayRig(directory: directory)
            try rig.store.append(contentsOf: (0..<25).map { entry($0, level: $0 < 5 ? .error : .info, topic: "job.\($0 % 2)") })
            try await rig.scheduler.run(until: .empty)
            #expect(try rig.store.stats().entries == 0, "counted entries leave the spool")
            try await rig.transport.shutdown()
            try rig.store.close()
        }
        let rig = try PushgatewayRig(directory: directory)
        try rig.store.append(contentsOf: [entry(99, level: .error, topic: "job.1")])
        try await rig.scheduler.run(until: .empty)
        try await rig.transport.shutdown()
        #expect(try rig.store.counters(sink: "pushgateway") == [
            EntryCounter(level: .info, topic: "job.0", value: 10), EntryCounter(level: .info, topic: "job.1", value: 10),
            EntryCounter(level: .error, topic: "job.0", value: 3), EntryCounter(level: .error, topic: "job.1", value: 3),
        ])
    }

    // MARK: - Pushing

    /// Found in review: the configuration accepted credentials on a pushgateway sink, but the
    /// pusher (which makes the sink's only HTTP requests) never sent them.
    @Test func credentialsFromTheConfigurationGoWithEveryPush() async throws {
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let configuration = try SpoolConfiguration(yaml: """
                spool:
                  path: \(directory.file("configured.spool"))
                sinks:
                  gateway:
                    type: pushgateway
                    url: \(server.url(path: "/"))
                    credentials: {bearer: {token_env: SPOOL_TEST_GATEWAY_TOKEN}}
                """)
            let store = try SpoolStore(path: directory.file("configured.spool"))
            let resolved = try configuration.makeSinks(store: store, environment: ["SPOOL_TEST_GATEWAY_TOKEN": "gw-token"])
            let transport = Transport()
            let pusher = try #require(resolved.first?.companion?(transport) as? PushgatewayPusher)
            #expect(await pusher.push())
            #expect(server.requests.last?.header("Authorization") == "Bearer gw-token")
            try await transport.shutdown()
            try store.close()
        }
    }

    @Test func aFailingGatewayIsReportedOnceThenItsRecoveryAndTheCountsArrive() async throws {
        try await TestHTTPServer.withServer(behaviour: .failFor(2, status: 503)) { server in
            let rig = try PushgatewayRig(directory: directory, gateway: server.url(path: "/"), job: "fwd", instance: "")
            try rig.store.append(contentsOf: [entry(1, level: .warning, topic: "disk")])
            try await rig.scheduler.run(until: .empty)
            #expect(try rig.store.stats().entries == 0, "an outage of the gateway holds no entry back")
            let pusher = rig.pusher()
            #expect(await pusher.push() == false)
            #expect(await pusher.push() == false)
            #expect(rig.reports.topics() == ["spool.pushgateway.failing"], "one report per outage")
            #expect(await pusher.push() == true)
            #expect(rig.reports.topics() == ["spool.pushgateway.failing", "spool.pushgateway.recovered"])
            let last = try #require(server.requests.last)
            #expect(last.method == "PUT")
            #expect(last.uri == "/metrics/job/fwd/instance@base64/=")
            #expect(last.bodyText.hasSuffix(#"spool_log_entries_total{level="warning",topic="disk"} 1"# + "\n"))
            try await rig.transport.shutdown()
        }
    }

    @Test func aPushUnderWayAtShutdownFinishesBeforeTheFinalPushWhichCarriesTheLastCounts() async throws {
        let gate = Gate()
        try await TestHTTPServer.withServer(behaviour: .held(by: gate, .ok())) { server in
            let rig = try PushgatewayRig(directory: directory, gateway: server.url(path: "/"))
            let pusher = rig.pusher()
            // The first push, with no counts yet, is held at the gateway; then counts change.
            let run = Task { try await pusher.run() }
            try await server.waitUntil { $0.inFlightRequests == 1 }
            try rig.store.append(contentsOf: [entry(1, level: .warning, topic: "disk")])
            try await rig.scheduler.run(until: .empty)
            // Shutdown while it is out: it is not abandoned (its PUT may already be on the wire,
            // and would replace the group after the final push), and the final push waits for it.
            run.cancel()
            gate.open()
            try await run.value
            let requests = server.requests
            #expect(requests.count == 2)
            #expect(requests.first?.body.isEmpty == true)
            #expect(requests.last?.bodyText.hasSuffix(#"spool_log_entries_total{level="warning",topic="disk"} 1"# + "\n") == true)
            #expect(server.stats.peakInFlightRequests == 1, "one push at a time")
            #expect(pusher.pushCount == 2)
            #expect(rig.reports.topics().isEmpty, "\(rig.reports.topics())")
            try await rig.transport.shutdown()
        }
    }

    @Test func aRejectedPushIsReportedAsMisconfiguration() async throws {
        try await TestHTTPServer.withServer(behaviour: .failFor(1, status: 400)) { server in
            let rig = try PushgatewayRig(directory: directory, gateway: server.url(path: "/"))
            #expect(await rig.pusher().push() == false)
            #expect(rig.reports.topics() == ["spool.pushgateway.misconfigured"])
            try await rig.transport.shutdown()
        }
    }
}

/// A spool with a Pushgateway sink and its scheduler, at `gateway` (no gateway needed to count).
struct PushgatewayRig {
    let store: SpoolStore
    let transport = Transport()
    let sink: PushgatewaySink
    let scheduler: SinkScheduler
    let reports = Reports()

    init(directory: TemporaryDirectory, gateway: String = "http://127.0.0.1:9", job: String = "spool", instance: String = "host-7",
         interval: Duration = .seconds(3600), minimumSpacing: Duration = .seconds(3600)) throws {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        store = try SpoolStore(path: directory.file("counters.spool"), configuration: configuration)
        sink = try PushgatewaySink(configuration: .init(url: gateway, job: job, instance: instance, interval: interval, minimumSpacing: minimumSpacing), store: store)
        var schedule = SinkScheduler.Configuration(name: "pushgateway")
        schedule.maxBatchEntries = 7
        schedule.maxBatchWait = .zero
        schedule.pollInterval = .milliseconds(5)
        schedule.retry = quickRetries()
        scheduler = SinkScheduler(store: store, sink: sink, transport: transport, configuration: schedule, owner: "test", report: reports.record)
    }

    func pusher() -> PushgatewayPusher {
        PushgatewayPusher(sink: sink, name: "pushgateway", transport: transport, report: reports.record)
    }
}

/// A `pushgateway` sink in a configuration given to `makeForwarder`, the library's way to run
/// one: the forwarder itself pushes its counters (it used to count them and never push: only
/// `spool forward --config` ran the pusher).
@Suite struct ForwarderPushgatewayTests {
    @Test func aForwarderFromTheConfigurationPushesItsCountersAndOnceMoreAfterTheLastAcknowledgement() async throws {
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let directory = TemporaryDirectory()
            var configuration = try SpoolConfiguration(yaml: """
                spool: {path: "\(directory.file("pushed.spool"))"}
                sinks:
                  gateway: {type: pushgateway, url: "\(server.url(path: "/"))", job: app}
                """)
            configuration.store.report = { _ in }
            let store = try configuration.openStore()
            try store.append(contentsOf: (0..<3).map {
                LogEntry(timestamp: Int64($0 + 1), level: .error, topic: "billing", message: "entry \($0)")
            })
            let forwarder = try configuration.makeForwarder(store: store, name: "test", environment: [:])
            try await forwarder.run(until: .empty)
            try await forwarder.transport.shutdown()
            let puts = server.requests.filter { $0.method == "PUT" }
            #expect(!puts.isEmpty, "the forwarder pushed nothing")
            let last = try #require(puts.last)
            #expect(last.uri.hasPrefix("/metrics/job/app"))
            #expect(last.bodyText.contains(#"spool_log_entries_total{level="error",topic="billing"} 3"#), "\(last.bodyText)")
            #expect(try store.stats().entries == 0)
            try store.close()
        }
    }
}

extension ForwarderPushgatewayTests {
    /// Found in review: the final push waited for a gateway that does not answer for its whole
    /// request timeout, one pusher after another, past the forwarder's grace period. It is bounded
    /// by the grace period now (on the forwarder's clock).
    /// Found in review: one gateway's final push still out at the deadline marked every
    /// pusher's as abandoned, and `forward --until-empty` then blamed a gateway that had taken
    /// its counts. Only the one whose final push had not ended is abandoned.
    @Test(.timeLimit(.minutes(1))) func onlyTheGatewayWhoseFinalPushIsStillOutIsAbandoned() async throws {
        let gate = Gate()
        try await TestHTTPServer.withServer(behaviour: .first(1, .ok(), then: .held(by: gate, .ok()))) { slow in
            try await TestHTTPServer.withServer(behaviour: .ok()) { quick in
                let directory = TemporaryDirectory()
                let rig = try PushgatewayRig(directory: directory, gateway: slow.url(path: "/"))
                try rig.store.append(contentsOf: [LogEntry(timestamp: 1, level: .info, topic: "app", message: "one")])
                let other = try PushgatewaySink(configuration: .init(url: quick.url(path: "/"), job: "spool", instance: "host-7",
                                                                     interval: .seconds(3600), minimumSpacing: .seconds(3600)),
                                                store: rig.store)
                let (held, taken) = (rig.pusher(), PushgatewayPusher(sink: other, name: "pushgateway", transport: rig.transport, report: rig.reports.record))
                let clock = ManualClock()
                let forwarder = Forwarder(schedulers: [rig.scheduler], transport: rig.transport, shutdownGracePeriod: .seconds(5),
                                          clock: clock, pushers: [held, taken])
                let running = Task { try await forwarder.run(until: .empty) }
                // Each gateway's loop push, then the final pushes: the slow one's is held.
                _ = try await slow.waitForRequests(2)
                for _ in 0..<2_000 where taken.pushCount < 2 { try await Task.sleep(for: .milliseconds(5)) }
                #expect(taken.pushCount == 2)
                for _ in 0..<10_000 where clock.sleeperCount == 0 { await Task.yield() }
                clock.advance(by: .seconds(5))
                try await running.value
                #expect(held.lastOutcome == .abandoned(after: .seconds(5)))
                #expect(taken.lastOutcome == .accepted)
                #expect(rig.reports.topics() == ["spool.pushgateway.final_push_abandoned"], "\(rig.reports.topics())")
                gate.open()
                try await rig.transport.shutdown()
                try rig.store.close()
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func aGatewayThatDoesNotAnswerDoesNotHoldTheStopPastTheGracePeriod() async throws {
        let gate = Gate()
        try await TestHTTPServer.withServer(behaviour: .held(by: gate, .ok())) { server in
            let directory = TemporaryDirectory()
            let rig = try PushgatewayRig(directory: directory, gateway: server.url(path: "/"))
            try rig.store.append(contentsOf: [LogEntry(timestamp: 1, level: .info, topic: "app", message: "one")])
            let clock = ManualClock()
            let forwarder = Forwarder(schedulers: [rig.scheduler], transport: rig.transport, shutdownGracePeriod: .seconds(5),
                                      clock: clock, pushers: [rig.pusher()])
            let running = Task { try await forwarder.run(until: .empty) }
            // The loop's first push is held at the gateway; the final push waits behind it, and
            // the grace period's deadline sleeps on the forwarder's clock.
            _ = try await server.waitForRequests(1)
            for _ in 0..<10_000 where clock.sleeperCount == 0 { await Task.yield() }
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .seconds(5))
            try await running.value
            #expect(try rig.store.stats().entries == 0)
            // It returned while the first push was still held: the final push, queued behind it,
            // never went out (waiting for both to time out sends both).
            #expect(server.requests.count == 1)
            #expect(rig.reports.topics() == ["spool.pushgateway.final_push_abandoned"], "\(rig.reports.topics())")
            gate.open()
            try await rig.transport.shutdown()
            try rig.store.close()
        }
    }
}
