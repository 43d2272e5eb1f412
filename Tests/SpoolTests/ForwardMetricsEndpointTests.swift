import Foundation
import NIOConcurrencyHelpers
import SpoolTestServer
import SpoolTesting
import Synchronization
import Testing
@testable import Spool
@testable import SpoolForwarding
@testable import SpoolCommand

/// `GET` (or another method) of `path` on 127.0.0.1:`port`.
private func fetch(_ port: Int, _ path: String, method: String = "GET") async throws -> ParsedResponse {
    let reply = try await RawHTTPClient.exchange(port: port, RawHTTPClient.request(method, path))
    return try #require(reply.response, "no HTTP response: \(reply.text)")
}

/// The value of the one sample `series` (name and labels exactly as exposed), or nil.
private func sample(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

/// The port of the start line's `metrics on http://127.0.0.1:PORT/metrics`.
private func metricsPort(_ stderr: String) -> Int? {
    guard let range = stderr.range(of: "metrics on http://127.0.0.1:") else { return nil }
    return Int(stderr[range.upperBound...].prefix { $0.isNumber })
}

/// `promtool check metrics`, off the cooperative pool.
private func promtoolCheck(_ exposition: String) async throws -> (status: Int32, output: String)? {
    guard let promtool = ExternalTool.promtool else { return nil }
    return try await onOwnThread { try ExternalTool.run(promtool, ["check", "metrics"], input: exposition) }
}

/// A running `spool forward` with `/metrics` and `/health`, scraped over HTTP on 127.0.0.1.
@Suite struct CommandForwardMetricsTests {
    @Test("A scrape of a running forwarder passes promtool and counts what it delivered",
          .enabled(if: ExternalTool.promtool != nil, "promtool is not installed (apt-get install prometheus)"))
    func aScrapeOfARunningForwarderPassesPromtoolAndCountsWhatItDelivered() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<1000)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            // The configuration's key, with a port only: loopback, any free port.
            let config = rig.scratch.file("spool.yaml")
            try """
                spool:
                  path: \(rig.spool)
                sinks:
                  http:
                    type: http
                    url: \(server.url(path: "/in"))
                metrics:
                  address: ":0"

                """.write(toFile: config, atomically: true, encoding: .utf8)
            let running = try SpoolBinary.Running(["forward", "--config", config])
            defer { if running.isRunning { running.send(SIGKILL) } }
            let started = try await running.waitForStderr { metricsPort($0) != nil }
            let port = try #require(metricsPort(started), "the start line names the address: \(started)")
            #expect(started.contains("; metrics on http://127.0.0.1:\(port)/metrics and /health"), "\(started)")

            // The receiver answered the batch; scraped until its acknowledgement is counted
            // (bounded: each try is a request answered by the forwarder, no sleeping).
            try await server.waitUntil { $0.requestsReceived >= 1 && $0.inFlightRequests == 0 }
            var exposition = ""
            for _ in 0..<5000 {
                exposition = try await fetch(port, "/metrics").bodyText
                if sample(exposition, #"spool_entries_delivered_total{sink="http"}"#) == 1000 { break }
            }
            #expect(sample(exposition, #"spool_entries_delivered_total{sink="http"}"#) == 1000, "\(exposition)")
            // Read from the spool at the scrape.
            exposition = try await fetch(port, "/metrics").bodyText
            #expect(sample(exposition, "spool_entries_accepted_total") == 1000)
            #expect(sample(exposition, #"spool_pending_entries{sink="http"}"#) == 0)
            #expect(sample(exposition, #"spool_oldest_pending_age_seconds{sink="http"}"#) == 0)
            #expect(sample(exposition, #"spool_sink_paused{sink="http",reason="misconfigured"}"#) == 0)
            #expect(sample(exposition, #"spool_breaker_state{sink="http"}"#) == 0)
            #expect(sample(exposition, #"spool_batches_in_flight{sink="http"}"#) == 0)
            #expect(sample(exposition, #"spool_requests_failed_total{sink="http"}"#) == 0)
            #expect(sample(exposition, #"spool_build_info{version="\#(SpoolCLI.version)"}"#) == 1)
            #expect((sample(exposition, "process_start_time_seconds") ?? 0) > 1_700_000_000)
            #expect((sample(exposition, "spool_file_bytes") ?? 0) > 0)
            #expect(exposition.contains(#"spool_request_duration_seconds_bucket{sink="http",le="0.001"}"#), "\(exposition)")
            #expect(exposition.contains("# HELP spool_entries_delivered_total "))

            let check = try #require(try await promtoolCheck(exposition))
            #expect(check.status == 0, "promtool: \(check.output)\n\(exposition)")

            let health = try await fetch(port, "/health")
            #expect(health.status == 200, "\(health.bodyText)")
            #expect(health.bodyText.contains(#""status":"ok""#))
            #expect(try await fetch(port, "/metrics", method: "HEAD").status == 200)
            #expect(try await fetch(port, "/nothing").status == 404)
            let post = try await fetch(port, "/metrics", method: "POST")
            #expect(post.status == 405 && post.header("Allow") == "GET, HEAD")

            running.send(SIGTERM)
            let outcome = try running.finish(timeout: .seconds(60))
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
    }

    @Test func healthNamesASinkPausedByA401AndRecoversWhenTheReceiverAcceptsAgain() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        // 401 first (the sink pauses, `--retry-base-ms 1`: 20 ms), then the retry is held at
        // the gate while /health is asked, then 204.
        let gate = Gate()
        let served = NIOLockedValueBox(0)
        let behaviour = Behaviour { _ in
            let number = served.withLockedValue { served in
                served += 1
                return served
            }
            switch number {
            case 1: return .respond(Response(status: 401, body: "bad token"))
            case 2: return .held(gate, .respond(Response(status: 204)))
            default: return .respond(Response(status: 204))
            }
        }
        try await TestHTTPServer.withServer(behaviour: behaviour) { server in
            // The held request must outlast a busy test runner: no request timeout of 3 s here.
            let running = try SpoolBinary.Running(rig.base + ["--http", server.url(path: "/in"), "--metrics-address", "127.0.0.1:0",
                                                               "--status-interval", "50ms", "--request-timeout-ms", "120000"])
            defer { if running.isRunning { running.send(SIGKILL) } }
            let started = try await running.waitForStderr { metricsPort($0) != nil }
            let port = try #require(metricsPort(started), "\(started)")

            // The 401 was answered and the retry after the pause is held: the sink is paused.
            try await server.waitUntil { $0.requestsReceived >= 2 && $0.inFlightRequests == 1 }
            let paused = try await fetch(port, "/health")
            #expect(paused.status == 503, "\(paused.bodyText)")
            let report = try JSONValue(parsing: paused.bodyText)
            guard case .object(let top) = report, case .array(let sinks)? = top["sinks"], case .object(let sink)? = sinks.first else {
                Issue.record("unexpected body: \(paused.bodyText)")
                return
            }
            #expect(top["status"] == .string("unhealthy"))
            #expect(sink["sink"] == .string("http") && sink["status"] == .string("paused") && sink["reason"] == .string("misconfigured"),
                    "\(paused.bodyText)")
            let metrics = try await fetch(port, "/metrics").bodyText
            #expect(sample(metrics, #"spool_sink_paused{sink="http",reason="misconfigured"}"#) == 1, "\(metrics)")
            #expect(sample(metrics, #"spool_batches_in_flight{sink="http"}"#) == 1)

            // The receiver accepts again: the sink resumes by itself.
            gate.open()
            try await server.waitUntil { $0.requestsReceived >= 2 && $0.inFlightRequests == 0 }
            var status = 0
            for _ in 0..<5000 {
                status = try await fetch(port, "/health").status
                if status == 200 { break }
            }
            #expect(status == 200)
            #expect(sample(try await fetch(port, "/metrics").bodyText, #"spool_sink_paused{sink="http",reason="misconfigured"}"#) == 0)

            // stderr is a pipe here, not a terminal: summary lines, on the interval.
            let summary = try await running.waitForStderr { $0.contains("spool: forward: last ") }
            #expect(summary.contains("spool: forward: last "), "\(summary)")
            running.send(SIGTERM)
            let outcome = try running.finish(timeout: .seconds(60))
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
    }

    @Test(arguments: ["127.0.0.1:99999", "localhost:", "1:2:3", "[::1]9464", "nine"])
    func aBadMetricsAddressIsRefusedBeforeAnythingIsSent(address: String) async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<3)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let outcome = try await onOwnThread {
                try SpoolBinary.run(rig.base + ["--http", server.url(path: "/in"), "--metrics-address", address, "--until-empty"], timeout: .seconds(60))
            }
            #expect(outcome.status != 0)
            #expect(outcome.stderr.contains("--metrics-address: metrics address '\(address)'"), "\(outcome.stderr)")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func aMetricsAddressInUseFailsTheRunBeforeAnythingIsSent() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<3)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            // The test server's own port is taken.
            let taken = try #require(URLComponents(string: server.url())?.port)
            let outcome = try await onOwnThread {
                try SpoolBinary.run(rig.base + ["--http", server.url(path: "/in"), "--metrics-address", ":\(taken)", "--until-empty"], timeout: .seconds(60))
            }
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains("cannot serve metrics on 127.0.0.1:\(taken)"), "\(outcome.stderr)")
            #expect(server.requests.isEmpty)
            let stats = try rig.stats()
            #expect(stats.entries == 3 && stats.sinks.allSatisfy { $0.pending == 3 && $0.leaseOwner == nil })
        }
    }
}

/// The parts of `/metrics` and `/health` that depend on time or on the spool's file, in-process.
@Suite struct ForwardMetricsPartsTests {
    @Test(arguments: [
        ("9464", "127.0.0.1:9464"), (":9464", "127.0.0.1:9464"), ("0", "127.0.0.1:0"),
        ("0.0.0.0:9464", "0.0.0.0:9464"), ("metrics.local:80", "metrics.local:80"), ("[::1]:9464", "[::1]:9464"),
    ])
    func metricsAddressesMeanLoopbackWithoutAHost(text: String, expected: String) throws {
        #expect(try MetricsAddress(parsing: text).description == expected)
    }

    @Test(arguments: ["", ":", "host:", "65536", "-1", "1:2:3", "[::1", "[::1]", "a b:80", "９４６４"])
    func malformedMetricsAddressesAreRefused(text: String) {
        #expect(throws: SpoolError.self) { try MetricsAddress(parsing: text) }
    }

    @Test func theConfigurationFileSpellsTheMetricsSection() throws {
        let configuration = try SpoolConfiguration(yaml: """
            spool: {path: /tmp/x.spool}
            metrics: {address: "127.0.0.1:9464", unhealthy_after: 2m, status_interval: 0}
            """)
        #expect(configuration.metrics.address == (try MetricsAddress(parsing: "127.0.0.1:9464")))
        #expect(configuration.metrics.unhealthyAfter == .seconds(120))
        #expect(configuration.metrics.statusInterval == nil)
        #expect(throws: SpoolError.self) {
            try SpoolConfiguration(yaml: "spool: {path: /tmp/x.spool}\nmetrics: {address: \"localhost:http\"}\n")
        }
    }

    @Test func aSinkFailingLongerThanTheThresholdIsUnhealthyByTheInjectedClock() async throws {
        let rig = try ForwardRig()
        let clock = ManualClock()
        let gate = Gate()
        // 503 twice, then the third attempt is held until the test has looked.
        let behaviour = Behaviour.first(2, .status(503), then: .init { _ in .held(gate, .respond(Response(status: 204))) })
        try await TestHTTPServer.withServer(behaviour: behaviour) { server in
            try rig.store.registerSink("http")
            try rig.append(3)
            var configuration = SinkScheduler.Configuration(name: "http")
            configuration.maxBatchWait = .zero
            configuration.retry = quickRetries()
            let scheduler = SinkScheduler(store: rig.store, sink: NDJSONSink(configuration: .init(url: server.url())), transport: rig.transport,
                                          configuration: configuration, owner: "test", clock: clock, report: rig.reports.record)
            let run = Task { try await scheduler.run(until: .empty) }
            try await server.waitUntil { $0.requestsReceived >= 1 && $0.inFlightRequests == 0 }
            // Counted, and waiting for its retry on the clock (beside the lease's renewal): a clock
            // moved before the wait began would not end it.
            await eventually("the failure counted") { scheduler.currentProgress.failingSince != nil && clock.sleeperCount == 2 }
            #expect(scheduler.health(failingLongerThan: .seconds(60)).status == .ok, "a failure shorter than the threshold is not a problem")

            // The second failure continues the run that began with the first.
            clock.advance(by: .seconds(30))
            try await server.waitUntil { $0.requestsReceived >= 2 && $0.inFlightRequests == 0 }
            await eventually("the second failure counted") { scheduler.currentProgress.failures == 2 && clock.sleeperCount == 2 }
            #expect(scheduler.health(failingLongerThan: .seconds(60)).status == .ok)
            clock.advance(by: .seconds(31))
            try await server.waitUntil { $0.requestsReceived >= 3 }
            let failing = scheduler.health(failingLongerThan: .seconds(60))
            #expect(failing.status == .failing && failing.failingFor == .seconds(61))
            #expect(failing.problem?.contains("failing for 61 s") == true)

            gate.open()
            try await run.value
            #expect(scheduler.health(failingLongerThan: .seconds(60)).status == .ok)
            #expect(scheduler.currentProgress.failingSince == nil)
            try await rig.shutdown()
        }
    }

    @Test func droppedByPolicyMatchesTheDropsTableAndAcceptedCountsEveryEntry() async throws {
        let directory = TemporaryDirectory()
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        configuration.maximumBytes = SpoolStore.Configuration.minimumMaximumBytes
        let store = try SpoolStore(path: directory.file("small.spool"), configuration: configuration)
        defer { try? store.close() }
        let padding = String(repeating: "x", count: 300)
        for start in stride(from: 0, to: 3000, by: 100) {
            try store.append(contentsOf: (start..<(start + 100)).map { entry($0, message: "entry \($0) \(padding)") })
        }
        let exporter = MetricsExporter(store: store, factory: SpoolMetricsFactory(), unhealthyAfter: .seconds(60))
        let exposition = String(decoding: exporter.exposition(), as: UTF8.self)
        let dropped = try #require(try SQL(store.path).int("SELECT sum(count) FROM drops WHERE reason = 'overflow:dropOldest'"))
        #expect(dropped > 0)
        #expect(sample(exposition, #"spool_entries_dropped_total{reason="overflow:dropOldest"}"#) == Double(dropped), "\(exposition)")
        #expect(sample(exposition, "spool_entries_accepted_total") == 3000)
        // A second scrape adds nothing that did not happen.
        let again = String(decoding: exporter.exposition(), as: UTF8.self)
        #expect(sample(again, #"spool_entries_dropped_total{reason="overflow:dropOldest"}"#) == Double(dropped))
        #expect(sample(again, "spool_entries_accepted_total") == 3000)
        if let check = try await promtoolCheck(again) { #expect(check.status == 0, "promtool: \(check.output)") }
        // The reasons that did not happen are there at 0, so the first such drop is an increase.
        for reason in ["overflow:dropNewest", "disk_full:dropOldest", "disk_full:dropNewest"] {
            #expect(sample(again, "spool_entries_dropped_total{reason=\"\(reason)\"}") == 0, "\(reason)")
        }
    }

    @Test func theStatusLineSummarisesEachIntervalOnTheInjectedClock() async throws {
        let clock = ManualClock()
        let rig = try ForwardRig(clock: clock)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            try rig.store.registerSink("http")
            try rig.append(25)
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url())))
            try await scheduler.run(until: .empty)
            let lines = Mutex<[String]>([])
            let store = rig.store
            let report = ForwardStatusReport(
                sinks: [.init(name: "http", scheduler: scheduler, backlog: { try? store.backlog(of: "http") })],
                interval: .seconds(60), clock: clock, write: { line in lines.withLock { $0.append(line) } })
            let running = Task { await report.run() }
            await eventually("the report waits for its interval") { clock.sleeperCount == 1 }
            #expect(lines.withLock { $0.isEmpty })
            clock.advance(by: .seconds(60))
            await eventually("a line") { lines.withLock { $0.count == 1 } }
            #expect(lines.withLock { $0 } == ["spool: forward: last 60s: delivered 25 (total 25), pending 0, lag 0s, failures 0\n"])

            // Five entries the forwarder has not sent, written 90 s before they were committed
            // (a backfill): the lag counts from the commit, 60 s before the next line.
            try store.append(contentsOf: (0..<5).map { number in
                LogEntry(timestamp: clock.now.nanoseconds - 90_000_000_000 + Int64(number), level: .info, topic: "t", message: "late \(number)")
            })
            await eventually("the report waits again") { clock.sleeperCount == 1 }
            clock.advance(by: .seconds(60))
            await eventually("a second line") { lines.withLock { $0.count == 2 } }
            #expect(lines.withLock { $0.last } == "spool: forward: last 60s: delivered 0 (total 25), pending 5, lag 60s, failures 0\n")
            running.cancel()
            try await rig.shutdown()
        }
    }
}

extension ForwardMetricsPartsTests {
    @Test func theStatusLineNamesAPausedSink() async throws {
        let rig = try ForwardRig()
        let clock = ManualClock()
        try await TestHTTPServer.withServer(behaviour: .status(401)) { server in
            try rig.store.registerSink("http")
            try rig.append(3)
            var configuration = SinkScheduler.Configuration(name: "http")
            configuration.maxBatchWait = .zero
            let scheduler = SinkScheduler(store: rig.store, sink: NDJSONSink(configuration: .init(url: server.url())), transport: rig.transport,
                                          configuration: configuration, owner: "test", clock: clock, report: rig.reports.record)
            let run = Task { try await scheduler.run() }
            try await server.waitUntil { $0.requestsReceived >= 1 && $0.inFlightRequests == 0 }
            await eventually("the pause") { scheduler.currentProgress.paused }
            let store = rig.store
            let report = ForwardStatusReport(sinks: [.init(name: "http", scheduler: scheduler, backlog: { try? store.backlog(of: "http") })],
                                             interval: .seconds(60), clock: clock, write: { _ in })
            let line = await report.line()
            #expect(line.contains("pending 3,") && line.hasSuffix("failures 1; http paused (misconfigured)"), "\(line)")
            run.cancel()
            _ = await run.result
            try await rig.shutdown()
        }
    }
}

/// docs/operations.md's example alert rules are valid Prometheus rules.
@Suite struct OperationsAlertRulesTests {
    @Test("The example alert rules pass promtool check rules",
          .enabled(if: ExternalTool.promtool != nil, "promtool is not installed (apt-get install prometheus)"))
    func theExampleAlertRulesPassPromtool() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let section = try #require(document.range(of: "## Reading the metrics"))
        let rest = document[section.upperBound...]
        let open = try #require(rest.range(of: "```yaml\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        let rules = String(rest[open.upperBound..<close.lowerBound]) + "\n"
        #expect(rules.contains("spool_oldest_pending_age_seconds") && rules.contains("spool_sink_paused"))
        let directory = TemporaryDirectory()
        let file = directory.file("rules.yaml")
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        let promtool = try #require(ExternalTool.promtool)
        let check = try await onOwnThread { try ExternalTool.run(promtool, ["check", "rules", file], input: "") }
        #expect(check.status == 0, "promtool: \(check.output)")
        #expect(check.output.contains("SUCCESS: 3 rules found"), "\(check.output)")
    }
}
