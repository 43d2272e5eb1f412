import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// `type: pushgateway` and `type: console` in a configuration file, and the PagerDuty rate limit
/// a file gets by default.
@Suite struct ConfigurationLocalSinksTests {
    typealias F = ConfigurationFixtures

    @Test func aFileWithAPushgatewayAndAConsoleSinkLoads() throws {
        let configuration = try F.load("""
            spool:
              path: a.spool
            sinks:
              metrics:
                type: pushgateway
                url: http://127.0.0.1:9091
                job: billing
                instance: web-1
                grouping_labels: {env: prod, region: eu}
                interval: 30s
                batch_size: 200
              replay:
                type: console
                format: json
                minimum_level: warning
            """)
        #expect(configuration.sinks.map(\.destination.typeName) == ["pushgateway", "console"])
        #expect(configuration.sinks[0].destination == .pushgateway(.init(
            url: "http://127.0.0.1:9091", job: "billing", instance: "web-1",
            groupingLabels: ["env": "prod", "region": "eu"], interval: .seconds(30))))
        #expect(configuration.sinks[0].scheduling.maxBatchEntries == 200)
        #expect(configuration.sinks[1].destination == .console(.init(format: .json)))
        #expect(configuration.sinks[1].minimumLevel == .warning)

        let directory = TemporaryDirectory()
        let store = try SpoolStore(path: directory.file("a.spool"))
        defer { try? store.close() }
        try configuration.checkSinks(environment: [:])
        let resolved = try configuration.makeSinks(store: store, environment: [:])
        #expect(resolved.map(\.sink.kind) == ["pushgateway", "console"])
        #expect(resolved[0].companion != nil && resolved[1].companion == nil)
        // The console's minimum level keeps it a local sink, which the scheduler delivers itself.
        #expect(resolved[0].sink is PushgatewaySink && resolved[1].sink is LevelFilteredLocalSink)
        let storeless = #expect(throws: SpoolError.self) { try configuration.makeSinks(environment: [:]) }
        #expect(storeless?.message.contains("sinks.metrics: a pushgateway sink counts entries in the spool") == true)
    }

    @Test func leftOutKeysHaveTheSinksDefaults() throws {
        let configuration = try F.load("""
            spool:
              path: a.spool
            sinks:
              metrics: {type: pushgateway, url: "http://127.0.0.1:9091"}
              replay: {type: console}
            """)
        #expect(configuration.sinks[0].destination == .pushgateway(.init(url: "http://127.0.0.1:9091")))
        guard case .pushgateway(let gateway) = configuration.sinks[0].destination else { Issue.record("not pushgateway"); return }
        #expect(gateway.job == "spool" && gateway.instance == ProcessInfo.processInfo.hostName && gateway.interval == .seconds(15))
        #expect(configuration.sinks[1].destination == .console(.init()))
        #expect(configuration.sinks.allSatisfy { $0.scheduling.rateLimit == nil })
    }

    @Test(arguments: [
        ("type: pushgateway", "sinks.s: line 5: missing required key 'url'"),
        ("type: pushgateway\nurl: ftp://x", "sinks.s.url: line 6: expected an http:// or https:// URL (scheme in lower case)"),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\njob: ", "sinks.s.job: line 7: expected text, got nothing"),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\ninterval: 5", #"sinks.s.interval: line 7: expected a duration such as 500ms, 2s or 5m, greater than zero, got "5""#),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\ninterval: 100ms", "sinks.s.interval: line 7: an interval shorter than 1s would push the same counts over and over"),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\ngrouping_labels: [a]", "sinks.s.grouping_labels: line 7: expected a mapping of names to values, got a list"),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\ngrouping_labels: {job: x}", "sinks.s: line 7: Pushgateway sink: the grouping label 'job' clashes with another label named 'job'"),
        ("type: pushgateway\nurl: http://127.0.0.1:9091\nminimum_level: error", "sinks.s.minimum_level: line 7: a pushgateway sink counts entries of every level; it takes no 'minimum_level'"),
        ("type: console\nformat: fancy", #"sinks.s.format: line 6: expected one of auto, human, json, got "fancy""#),
        ("type: console\nurl: http://127.0.0.1:1", "sinks.s.url: line 6: a console sink writes to standard output; it takes no 'url'"),
    ])
    func eachBadValueNamesItsKeyAndLine(sink: String, expected: String) {
        #expect(F.refusal(F.withSink(sink)) == expected)
    }

    @Test func aKeyOfAnotherTypeIsUnknownForTheNewTypes() {
        let gateway = F.refusal(F.withSink("type: pushgateway\nurl: http://127.0.0.1:9091\nformat: json"))
        #expect(gateway.hasPrefix("sinks.s.format: line 7: unknown key 'format'; expected one of: type, url,"), "\(gateway)")
        #expect(gateway.hasSuffix("job, instance, grouping_labels, interval"), "\(gateway)")
        let console = F.refusal(F.withSink("type: console\njob: x"))
        #expect(console.hasPrefix("sinks.s.job: line 6: unknown key 'job'; expected one of: type, url,"), "\(console)")
    }

    @Test func aPagerDutySinkGetsTheCLIsRateLimitUnlessTheFileGivesOne() throws {
        let configuration = try F.load("""
            spool:
              path: a.spool
            sinks:
              pager: {type: pagerduty, routing_key_env: PD}
              limited: {type: pagerduty, routing_key_env: PD, rate_limit: {per_second: 0.5, burst: 2}}
            """)
        let pager = try #require(configuration.sinks[0].scheduling.rateLimit)
        #expect(pager.perSecond == 100.0 / 60 && pager.burst == 20)
        #expect(pager.perSecond == PagerDutySink.defaultRateLimit.perSecond && pager.burst == PagerDutySink.defaultRateLimit.burst)
        let limited = try #require(configuration.sinks[1].scheduling.rateLimit)
        #expect(limited.perSecond == 0.5 && limited.burst == 2)
        // In code too: a PagerDuty sink value starts with the limit.
        let coded = SpoolConfiguration.Sink(name: "p", destination: .pagerDuty(.init(routingKey: ""), routingKey: .environment("PD")))
        #expect(coded.scheduling.rateLimit?.burst == 20)
    }

    @Test func theConsolesLevelFilterDeliversOnlyEntriesAtOrAboveTheLevel() async throws {
        let directory = TemporaryDirectory()
        let output = directory.file("out.txt")
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        let console = ConsoleSink(configuration: .init(format: .json, stream: .fileDescriptor(handle.fileDescriptor)))
        let sink = LevelFilteredLocalSink(base: console, minimumLevel: .warning)
        let entries = [SinkFixtures.entry(id: 1, .info, "quiet"), SinkFixtures.entry(id: 2, .error, "loud")]
        #expect(await sink.deliver(entries[...], sink: "c") == .delivered)
        #expect(await sink.deliver(entries[..<1], sink: "c") == .delivered)
        try handle.close()
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.contains("loud") && !text.contains("quiet"), "\(text)")
    }
}
