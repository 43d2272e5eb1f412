import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// `spool forward --config FILE` with the sinks that run locally: a console sink replays to
/// standard output, and a pushgateway sink counts in the spool while its pusher runs beside the
/// forwarder and PUTs the counters.
@Suite struct CommandForwardConfigSinksTests {
    @Test func consoleAndPushgatewaySinksFromAFileReplayAndPush() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("app.spool")
        _ = try SpoolBinary.run(["ingest", "--spool", path, "--topic", "web"], input: (1...5).map { "line \($0)\n" }.joined())
        try await TestHTTPServer.withServer(behaviour: .ok(200)) { server in
            let file = directory.file("spool.yaml")
            try """
                version: 1
                spool:
                  path: \(path)
                sinks:
                  replay:
                    type: console
                    format: json
                  metrics:
                    type: pushgateway
                    url: \(server.url())
                    job: billing
                    instance: web-1
                    grouping_labels: {env: test}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let outcome = try SpoolBinary.run(["forward", "--config", file, "--until-empty"], timeout: .seconds(20))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let messages = try outcome.stdout.split(separator: "\n").map { line -> String in
                guard case .object(let object) = try JSONValue(parsing: String(line)), case .string(let message) = object["message"] else {
                    return "?"
                }
                return message
            }
            #expect(messages == (1...5).map { "line \($0)" })
            let requests = server.requests
            #expect(!requests.isEmpty && requests.allSatisfy { $0.method == "PUT" && $0.path == "/metrics/job/billing/instance/web-1/env/test" },
                    "\(requests.map { "\($0.method) \($0.uri)" })")
            // Pushes go one at a time and none is cut short at shutdown: the last PUT the gateway
            // saw is the final push, with every count (a PUT replaces the group, so a stale push
            // landing after it would leave the gateway with old counts).
            let pushes = requests.map { "#\($0.sequenceNumber) on connection \($0.connectionNumber): \($0.body.count) bytes" }
            let last = try #require(requests.last).bodyText
            #expect(last.contains("# TYPE spool_log_entries_total counter\n"), "\(pushes)")
            #expect(last.contains(#"spool_log_entries_total{level="info",topic="web"} 5"# + "\n"), "\(pushes)")
            #expect(!outcome.stderr.contains("spool.pushgateway.failing"), "no push was abandoned: \(outcome.stderr)")
            #expect(try SQL(path).rows("SELECT name, position FROM sinks ORDER BY name") == [["metrics", "5"], ["replay", "5"]])
        }
    }
}
