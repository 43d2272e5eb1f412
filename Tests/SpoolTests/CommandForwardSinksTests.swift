import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// `spool forward --otlp / --pagerduty-… / --pushgateway / --console`: the real binary against
/// the test HTTP server (or its own stdout).
@Suite(.serialized) struct CommandForwardSinksTests {
    /// Stores `entries` through the library and closes the spool.
    private func fill(_ rig: ForwardCommandRig, _ entries: [LogEntry]) throws {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        let store = try SpoolStore(path: rig.spool, configuration: configuration)
        try store.append(contentsOf: entries)
        try store.close()
    }

    /// Two of each level from info up, topic `billing`, messages `<level> N`.
    private var mixedLevels: [LogEntry] {
        [LogLevel.info, .warning, .error, .critical, .info, .error].enumerated().map { index, level in
            entry(index, level: level, topic: "billing", message: "\(level.rawValue) \(index)")
        }
    }

    @Test func otlpPostsResourceLogsJSONToV1Logs() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        try await TestHTTPServer.withServer(behaviour: .ok(200)) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--otlp", server.url(), "--otlp-service-name", "billing", "--otlp-resource", "deployment.environment=test",
                "--until-empty",
            ], timeout: .seconds(20))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let requests = server.requests
            #expect(!requests.isEmpty && requests.allSatisfy { $0.method == "POST" && $0.path == "/v1/logs" },
                    "\(requests.map { "\($0.method) \($0.uri)" })")
            var bodies: [String] = []
            for request in requests {
                #expect(request.header("Content-Type") == "application/json")
                guard case .object(let root) = try JSONValue(parsing: request.bodyText),
                      case .array(let resourceLogs) = root["resourceLogs"],
                      case .object(let first) = resourceLogs.first,
                      case .object(let resource) = first["resource"],
                      case .array(let attributes) = resource["attributes"],
                      case .array(let scopeLogs) = first["scopeLogs"],
                      case .object(let scope) = scopeLogs.first,
                      case .array(let records) = scope["logRecords"] else {
                    Issue.record("not an OTLP logs request: \(request.bodyText.prefix(300))")
                    continue
                }
                let pairs = attributes.compactMap { attribute -> String? in
                    guard case .object(let pair) = attribute, case .string(let key) = pair["key"],
                          case .object(let value) = pair["value"], case .string(let text) = value["stringValue"] else { return nil }
                    return "\(key)=\(text)"
                }
                #expect(Set(pairs) == ["service.name=billing", "deployment.environment=test"])
                for case .object(let record) in records {
                    if case .object(let body) = record["body"], case .string(let text) = body["stringValue"] { bodies.append(text) }
                }
            }
            #expect(bodies.sorted() == mixedLevels.map(\.message).sorted())
        }
        #expect(try rig.stats().entries == 0)
    }

    @Test func pagerDutySendsOneEventPerErrorWithTheKeyFromTheEnvironmentAndNeverPrintsIt() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        let key = "pd-routing-key-\(UUID().uuidString)"
        try await TestHTTPServer.withServer(behaviour: .ok(202)) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--pagerduty-url", server.url(path: "/v2/enqueue"), "--pagerduty-routing-key-env", "SPOOL_TEST_PD_KEY",
                "--pagerduty-source", "web-1", "--batch-size", "100", "--until-empty",
            ], environment: ["SPOOL_TEST_PD_KEY": key], timeout: .seconds(20))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(!outcome.stdout.contains(key) && !outcome.stderr.contains(key))
            let requests = server.requests
            #expect(requests.allSatisfy { $0.method == "POST" && $0.path == "/v2/enqueue" })
            var summaries: [String] = []
            for request in requests {
                // One event per request: the body is one JSON object, not a list.
                guard case .object(let event) = try JSONValue(parsing: request.bodyText),
                      case .object(let payload) = event["payload"], case .string(let summary) = payload["summary"] else {
                    Issue.record("not a PagerDuty event: \(request.bodyText.prefix(300))")
                    continue
                }
                #expect(event["routing_key"] == .string(key))
                #expect(event["event_action"] == .string("trigger"))
                #expect(payload["source"] == .string("web-1"))
                summaries.append(summary)
            }
            // error and critical only, one request each.
            #expect(summaries.sorted() == ["critical 3", "error 2", "error 5"])
        }
        #expect(try rig.stats().entries == 0)
    }

    @Test func pushgatewayPutsTheCountersToTheJobAndInstanceGroupOnExit() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        try await TestHTTPServer.withServer(behaviour: .ok(200)) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--pushgateway", server.url(), "--job", "billing", "--instance", "web-1", "--until-empty",
            ], timeout: .seconds(20))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let requests = server.requests
            #expect(!requests.isEmpty && requests.allSatisfy { $0.method == "PUT" && $0.path == "/metrics/job/billing/instance/web-1" },
                    "\(requests.map { "\($0.method) \($0.uri)" })")
            // The last push (at shutdown) carries every entry the forwarder counted.
            let last = try #require(requests.last).bodyText
            #expect(last.contains("# TYPE spool_log_entries_total counter\n"), "\(last)")
            for line in [
                #"spool_log_entries_total{level="info",topic="billing"} 2"#,
                #"spool_log_entries_total{level="warning",topic="billing"} 1"#,
                #"spool_log_entries_total{level="error",topic="billing"} 2"#,
                #"spool_log_entries_total{level="critical",topic="billing"} 1"#,
            ] {
                #expect(last.contains(line + "\n"), "\(line) in \(last)")
            }
        }
    }

    /// `--until-empty` promises delivery: counters the Pushgateway refused did not get there.
    @Test func untilEmptyExitsOneWhenThePushgatewayRefusesTheCounters() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        try await TestHTTPServer.withServer(behaviour: .status(404, body: "404 page not found")) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--pushgateway", server.url(), "--until-empty"], timeout: .seconds(30))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            let last = try #require(outcome.stderrLines.last)
            #expect(last.hasPrefix("spool: error: sink 'pushgateway': the Pushgateway refused the counters (HTTP 404"), "\(last)")
            #expect(last.contains("the counts stay in the spool and the next run pushes them"), "\(last)")
            #expect(server.requests.last?.method == "PUT")
        }
        // Counted all the same: the next run's push carries them.
        #expect(try rig.stats().entries == 0)
    }

    @Test func untilEmptyExitsOneWhenTheLastPushCannotReachThePushgateway() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let outcome = try SpoolBinary.run(rig.base + ["--pushgateway", "http://127.0.0.1:\(refusing.port)", "--until-empty"],
                                          timeout: .seconds(30))
        #expect(outcome.status == 1, "\(outcome.stderr)")
        let last = try #require(outcome.stderrLines.last)
        #expect(last.hasPrefix("spool: error: sink 'pushgateway': the last push of the counters failed ("), "\(last)")
        #expect(last.contains("refused the connection"), "\(last)")
    }

    @Test func sigtermEndsWithAFinalPushOfEveryCount() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        try await TestHTTPServer.withServer(behaviour: .ok(200)) { server in
            let running = try SpoolBinary.Running(rig.base + ["--pushgateway", server.url(), "--job", "billing", "--instance", "web-1"])
            let deadline = ContinuousClock.now + .seconds(10)
            while try rig.stats().entries > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            running.send(SIGTERM)
            let outcome = try running.finish(timeout: .seconds(10))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let last = try #require(server.requests.last)
            #expect(last.method == "PUT")
            #expect(last.bodyText.contains(#"spool_log_entries_total{level="error",topic="billing"} 2"# + "\n"), "\(last.bodyText)")
        }
    }

    @Test func consoleReplaysTheEntriesToStandardOutput() throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        let outcome = try SpoolBinary.run(rig.base + ["--console", "--console-format", "json", "--until-empty"], timeout: .seconds(20))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let messages = try outcome.stdout.split(separator: "\n").map { line -> String in
            guard case .object(let object) = try JSONValue(parsing: String(line)), case .string(let message) = object["message"] else {
                return "?"
            }
            return message
        }
        #expect(messages == mixedLevels.map(\.message))
        // A replay is one-off: it leaves the spool as it found it, with no sink holding entries.
        let stats = try rig.stats()
        #expect(stats.entries == Int64(mixedLevels.count))
        #expect(stats.sinks.isEmpty, "\(stats.sinks.map(\.name))")
    }

    @Test func aMissingRoutingKeyVariableFailsNamingItAndSendsNothing() async throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        try await TestHTTPServer.withServer(behaviour: .ok(202)) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--pagerduty-url", server.url(), "--pagerduty-routing-key-env", "SPOOL_TEST_NO_SUCH_PD_KEY", "--until-empty",
            ], timeout: .seconds(20))
            #expect(outcome.status == 1)
            #expect(outcome.stderr == "spool: error: the PagerDuty routing key comes from the environment variable SPOOL_TEST_NO_SUCH_PD_KEY, which is not set or empty\n")
            #expect(server.requests.isEmpty)
        }
        // A URL without a routing key is a usage error.
        let usage = try SpoolBinary.run(rig.base + ["--pagerduty-url", "http://127.0.0.1:9/"], timeout: .seconds(20))
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("--pagerduty-routing-key-env"), "\(usage.stderr)")
    }

    /// Options that would be dropped without a word are usage errors, before anything is sent:
    /// one sink's credentials or settings given to a run of another (a bearer token meant for
    /// Loki written as --http-…), a sink name the configuration file would refuse (a `:` could
    /// take a reserved one-off name, whose entries the next run removes), a secret in a URL's
    /// query (printed in the start-up line, visible in `ps`).
    @Test(arguments: [
        (["--loki", "http://127.0.0.1:9", "--http-bearer-token-env", "TOKEN"], "--http-… credentials only apply with --http URL"),
        (["--http", "http://127.0.0.1:9/in", "--loki-bearer-token-env", "TOKEN"], "--loki-… credentials only apply with --loki URL"),
        (["--http", "http://127.0.0.1:9/in", "--loki-basic-user", "ops", "--loki-basic-password-env", "PW"], "only apply with --loki URL"),
        (["--http", "http://127.0.0.1:9/in", "--loki-tenant", "team-a"], "only apply with --loki URL"),
        (["--http", "http://127.0.0.1:9/in", "--loki-label", "env=prod"], "only apply with --loki URL"),
        (["--loki", "http://127.0.0.1:9", "--http-name", "x"], "--http-name and the --http-… credentials only apply with --http URL"),
        (["--http", "http://127.0.0.1:9/in", "--name", "spool-once:vm:1:x"], "a sink name is 1 to 64 letters"),
        (["--http", "http://127.0.0.1:9/in", "--name", "bad name!"], "a sink name is 1 to 64 letters"),
        (["--http", "http://127.0.0.1:9/in?token=qsecret123"], "the URL's query has a secret ('token', value not shown)"),
    ])
    func optionsThatWouldBeIgnoredAreUsageErrors(options: [String], says: String) throws {
        try expectUsageError(options, says: says)
    }

    /// With --config the file describes the sinks: a sink's option or batching on the command
    /// line would be ignored, so it is refused.
    @Test(arguments: [
        (["--batch-size", "5"], "--config describes each sink's batching"),
        (["--pause-after-rejections", "3"], "--config describes each sink's batching"),
        (["--loki-label", "a=b"], "--config names the sinks and their settings"),
        (["--http-bearer-token-env", "TOKEN"], "--config names the sinks and their settings"),
        (["--job", "foo"], "--config names the sinks and their settings"),
    ])
    func sinkOptionsBesideAConfigurationFileAreUsageErrors(options: [String], says: String) throws {
        let rig = ForwardCommandRig()
        let config = rig.scratch.file("spool.yaml")
        try "spool:\n  path: \(rig.spool)\nsinks:\n  out:\n    type: http\n    url: http://127.0.0.1:9/in\n".write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try SpoolBinary.run(["forward", "--config", config, "--until-empty"] + options, environment: ["TOKEN": "t0ken-value"],
                                          timeout: .seconds(20))
        #expect(outcome.status == 2, "\(options): \(outcome.stderr)")
        #expect(outcome.stderr.contains(says), "\(options): \(outcome.stderr)")
    }

    private func expectUsageError(_ options: [String], says: String) throws {
        let rig = ForwardCommandRig()
        try fill(rig, mixedLevels)
        let outcome = try SpoolBinary.run(rig.base + options + ["--until-empty"], environment: ["TOKEN": "t0ken-value", "PW": "pw-value"],
                                          timeout: .seconds(20))
        #expect(outcome.status == 2, "\(options): \(outcome.stderr)")
        #expect(outcome.stderr.contains(says), "\(options): \(outcome.stderr)")
        #expect(!outcome.stderr.contains("qsecret123"))
        #expect(try rig.stats().sinks.isEmpty)
    }
}
