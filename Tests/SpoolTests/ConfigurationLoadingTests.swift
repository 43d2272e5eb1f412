import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Shared by the configuration tests: load YAML, or the message it is refused with.
enum ConfigurationFixtures {
    static func load(_ yaml: String) throws -> SpoolConfiguration {
        try SpoolConfiguration(yaml: yaml)
    }

    /// The error message of a configuration that must be refused.
    static func refusal(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            _ = try SpoolConfiguration(yaml: yaml)
            Issue.record("the configuration was accepted", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(error.code == .configuration, sourceLocation: sourceLocation)
            return error.message
        }
    }

    /// A minimal valid file with `sink` (indented as a sink's keys) under `sinks.s`.
    static func withSink(_ sink: String) -> String {
        "spool:\n  path: /tmp/a.spool\nsinks:\n  s:\n" + sink.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n"
    }
}

@Suite struct ConfigurationLoadingTests {
    typealias F = ConfigurationFixtures

    static let full = """
        version: 1
        spool:
          path: /var/lib/app/app.spool
          durability: buffered
          max_delay: 50ms
          max_size: 512MiB
          overflow: reject
          max_message_size: 64KiB
          busy_timeout: 2s
        redaction:
          keys: [password, session]
          extra_keys: [card]
          marker: "***"
        transport:
          connect_timeout: 2s
          request_timeout: 1.5s
          gzip_threshold: 0
          gzip_level: 6
          max_concurrent_requests: 9
          user_agent: billing/2
        sinks:
          loki:
            type: loki
            url: http://127.0.0.1:3100
            labels: {service: billing, env: prod}
            tenant: team-a
            topic: line
            line: json
            context_in_structured_metadata: false
            max_line_size: 2KiB
            minimum_level: info
            batch_size: 250
            batch_bytes: 256KiB
            batch_wait: 0ms
            max_in_flight: 1
            lease: 1m
            poll_interval: 20ms
            rate_limit: {per_second: 2.5, burst: 5}
            breaker: {failure_threshold: 3, cool_down: 10s}
            retry:
              quick_attempts: 2
              quick_base: 10ms
              quick_jitter: 0ms
              slow_base: 1s
              min_backoff: 50ms
              max_backoff: 30s
              max_retry_after: 1m
              misconfiguration_pause: 2m
            credentials:
              basic: {username: svc, password_env: LOKI_PASSWORD}
          ndjson:
            type: http
            url: https://archive.example.net/ingest
            credentials:
              headers:
                X-API-Key: {file: /run/secrets/archive}
          otel:
            type: otlp
            url: http://127.0.0.1:4318
            service_name: billing
            scope_name: billing-scope
            scope_version: "2.0"
            resource_attributes: {host.name: a1, shard: 3, canary: true, weight: 0.5, zip: "01234"}
            credentials:
              bearer: {token_env: OTEL_TOKEN}
          pager:
            type: pagerduty
            url: http://127.0.0.1:9000/v2/enqueue
            routing_key_env: PD_KEY
            minimum_level: critical
            source: host-1
            component: payments
            group: eu
            class: billing
        """

    @Test func aFullFileLoadsIntoTheSwiftValues() throws {
        let configuration = try F.load(Self.full)
        #expect(configuration.spoolPath == "/var/lib/app/app.spool")
        #expect(configuration.store.durability == .buffered(maxDelay: .milliseconds(50)))
        #expect(configuration.store.maximumBytes == 512 << 20)
        #expect(configuration.store.overflowPolicy == .reject)
        #expect(configuration.store.maximumMessageBytes == 64 << 10)
        #expect(configuration.store.busyTimeout == .seconds(2))
        #expect(configuration.redaction.keys == ["password", "session", "card"])
        #expect(configuration.redaction.marker == "***")
        #expect(configuration.loggerConfiguration.redaction == configuration.redaction)
        #expect(configuration.transport.connectTimeout == .seconds(2))
        #expect(configuration.transport.requestTimeout == .milliseconds(1500))
        #expect(configuration.transport.gzipThreshold == 0)
        #expect(configuration.transport.gzipLevel == 6)
        #expect(configuration.transport.maximumConcurrentRequests == 9)
        #expect(configuration.transport.userAgent == "billing/2")
        #expect(configuration.sinks.map(\.name) == ["loki", "ndjson", "otel", "pager"])

        let loki = configuration.sinks[0]
        guard case .loki(let lokiConfiguration) = loki.destination else { Issue.record("not loki"); return }
        #expect(lokiConfiguration.url == "http://127.0.0.1:3100")
        #expect(lokiConfiguration.labels == ["service": "billing", "env": "prod"])
        #expect(lokiConfiguration.tenant == "team-a")
        #expect(lokiConfiguration.topic == .line && lokiConfiguration.line == .json)
        #expect(!lokiConfiguration.contextInStructuredMetadata)
        #expect(lokiConfiguration.maximumLineBytes == 2048)
        #expect(loki.minimumLevel == .info)
        let scheduling = loki.scheduling
        #expect(scheduling.maxBatchEntries == 250 && scheduling.maxBatchBytes == 256 << 10)
        #expect(scheduling.maxBatchWait == .zero && scheduling.maxInFlight == 1)
        #expect(scheduling.lease == .seconds(60) && scheduling.pollInterval == .milliseconds(20))
        #expect(scheduling.rateLimit?.perSecond == 2.5 && scheduling.rateLimit?.burst == 5)
        #expect(scheduling.breaker.failureThreshold == 3 && scheduling.breaker.coolDown == .seconds(10))
        #expect(scheduling.retry.quickAttempts == 2 && scheduling.retry.quickBase == .milliseconds(10))
        #expect(scheduling.retry.quickJitter == .zero && scheduling.retry.slowBase == .seconds(1))
        #expect(scheduling.retry.minimumBackoff == .milliseconds(50) && scheduling.retry.maximumBackoff == .seconds(30))
        #expect(scheduling.retry.maximumRetryAfter == .seconds(60) && scheduling.retry.misconfigurationPause == .seconds(120))
        #expect(loki.credentials.basic == .init(username: "svc", password: .environment("LOKI_PASSWORD")))

        #expect(configuration.sinks[1].destination == .http(.init(url: "https://archive.example.net/ingest")))
        #expect(configuration.sinks[1].credentials.headers == ["X-API-Key": .file("/run/secrets/archive")])

        guard case .otlp(let otlp) = configuration.sinks[2].destination else { Issue.record("not otlp"); return }
        #expect(otlp.serviceName == "billing" && otlp.scopeName == "billing-scope" && otlp.scopeVersion == "2.0")
        #expect(otlp.resourceAttributes == ["host.name": "a1", "shard": 3, "canary": true, "weight": 0.5, "zip": "01234"])
        #expect(configuration.sinks[2].credentials.bearer == .environment("OTEL_TOKEN"))

        guard case .pagerDuty(let pager, let key) = configuration.sinks[3].destination else { Issue.record("not pagerduty"); return }
        #expect(key == .environment("PD_KEY"))
        #expect(pager.url == "http://127.0.0.1:9000/v2/enqueue" && pager.minimumLevel == .critical)
        #expect(pager.source == "host-1" && pager.component == "payments" && pager.group == "eu" && pager.eventClass == "billing")
        #expect(configuration.sinks[3].minimumLevel == .trace)  // PagerDuty filters by its own level
    }

    @Test func leftOutKeysHaveTheSwiftDefaults() throws {
        let configuration = try F.load("""
            spool:
              path: a.spool
            sinks:
              l: {type: loki, url: "http://127.0.0.1:3100"}
              p: {type: pagerduty, routing_key_file: /run/key}
            """)
        let store = SpoolStore.Configuration()
        #expect(configuration.store.durability == .committed)
        #expect(configuration.store.maximumBytes == store.maximumBytes)
        #expect(configuration.store.overflowPolicy == .dropOldest)
        #expect(configuration.store.maximumMessageBytes == store.maximumMessageBytes)
        #expect(configuration.redaction == Redaction())
        #expect(configuration.transport == Transport.Configuration())
        let sink = configuration.sinks[0]
        let scheduling = SinkScheduler.Configuration(name: "l")
        #expect(sink.minimumLevel == .trace && sink.credentials.isEmpty)
        #expect(sink.scheduling.maxBatchEntries == scheduling.maxBatchEntries)
        #expect(sink.scheduling.maxBatchBytes == scheduling.maxBatchBytes)
        #expect(sink.scheduling.maxBatchWait == scheduling.maxBatchWait)
        #expect(sink.scheduling.maxInFlight == scheduling.maxInFlight)
        #expect(sink.scheduling.lease == scheduling.lease)
        #expect(sink.scheduling.retry == scheduling.retry)
        #expect(sink.scheduling.breaker == scheduling.breaker)
        #expect(sink.scheduling.rateLimit == nil)
        #expect(sink.destination == .loki(.init(url: "http://127.0.0.1:3100")))
        guard case .pagerDuty(let pager, _) = configuration.sinks[1].destination else { Issue.record("not pagerduty"); return }
        #expect(pager.url == PagerDutySink.Configuration.defaultURL && pager.minimumLevel == .error)
    }

    @Test func bufferedWithoutAMaximumDelayWaits200Milliseconds() throws {
        let configuration = try F.load("spool: {path: a.spool, durability: buffered, max_size: none}")
        #expect(configuration.store.durability == .buffered(maxDelay: .milliseconds(200)))
        #expect(configuration.store.maximumBytes == nil)
        #expect(configuration.sinks.isEmpty)
    }

    @Test func theRuntimeObjectsCarryTheConfigurationAndResolvedCredentials() throws {
        let configuration = try F.load(Self.full)
        let files = ["/run/secrets/archive": Array("archive-key\n".utf8)]
        let resolved = try configuration.makeSinks(
            environment: ["LOKI_PASSWORD": "pa55", "OTEL_TOKEN": "otel-token", "PD_KEY": "pd-key"],
            readFile: { path throws(SpoolError) in
                guard let bytes = files[path] else { throw SpoolError(.io, "no such file") }
                return bytes
            })
        #expect(resolved.map(\.sink.kind) == ["loki", "http", "otlp", "pagerduty"])
        #expect(resolved.map(\.scheduling.name) == ["loki", "ndjson", "otel", "pager"])
        #expect(resolved[0].scheduling.credentials == [.init("Authorization", "Basic " + Data("svc:pa55".utf8).base64EncodedString())])
        #expect(resolved[0].scheduling.maxBatchEntries == 250)
        #expect(resolved[1].scheduling.credentials == [.init("X-API-Key", "archive-key")])
        #expect(resolved[2].scheduling.credentials == [.init("Authorization", "Bearer otel-token")])
        let pager = try #require(resolved[3].sink as? PagerDutySink)
        #expect(pager.configuration.routingKey == "pd-key")
        #expect(resolved[3].scheduling.credentials.isEmpty)
        // Loki's minimum level wraps the sink in the level filter.
        #expect(resolved[0].sink is LevelFilteredSink && resolved[1].sink is NDJSONSink)
    }

    @Test func theLevelFilterSendsOnlyEntriesAtOrAboveTheLevel() throws {
        let sink = LevelFilteredSink(base: NDJSONSink(configuration: .init(url: "http://127.0.0.1:1/")), minimumLevel: .warning)
        let below = [SinkFixtures.entry(id: 1, .info, "quiet"), SinkFixtures.entry(id: 2, .debug, "quieter")]
        #expect(try sink.encode(below[...]) == nil)
        let mixed = [SinkFixtures.entry(id: 1, .info, "quiet"), SinkFixtures.entry(id: 2, .error, "loud")]
        let request = try #require(try sink.encode(mixed[...]))
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains("loud") && !body.contains("quiet"))
    }

    @Test func aConfigurationBuiltInCodeMakesTheSameSinks() throws {
        var configuration = SpoolConfiguration(spoolPath: "/tmp/x.spool")
        var sink = SpoolConfiguration.Sink(name: "logs", destination: .http(.init(url: "http://127.0.0.1:9/in")))
        sink.credentials.headers["X-Token"] = .value("from-code")
        sink.scheduling.maxInFlight = 1
        configuration.sinks = [sink, SpoolConfiguration.Sink(name: "logs", destination: .http(.init(url: "ftp://x")))]
        let refused = #expect(throws: SpoolError.self) { try configuration.makeSinks(environment: [:]) }
        #expect(refused?.message == "sinks.logs: two sinks have this name")
        configuration.sinks.removeLast()
        let resolved = try configuration.makeSinks(environment: [:])
        #expect(resolved.count == 1 && resolved[0].scheduling.credentials == [.init("X-Token", "from-code")])
        #expect(resolved[0].scheduling.maxInFlight == 1)
        #expect("\(SpoolConfiguration.Secret.value("from-code"))" == "<value>")
    }

    @Test func aLoadedConfigurationOpensItsSpoolAndBuildsAForwarder() async throws {
        let directory = TemporaryDirectory()
        let configuration = try F.load("""
            spool: {path: "\(directory.file("f.spool"))", durability: fsync}
            sinks:
              out: {type: http, url: "http://127.0.0.1:9/in", batch_size: 7}
            """)
        let store = try configuration.openStore()
        let forwarder = try configuration.makeForwarder(store: store, name: "test", environment: [:])
        #expect(forwarder.schedulers.count == 1)
        #expect(forwarder.transport.configuration == configuration.transport)
        try await forwarder.transport.shutdown()
        try store.close()
    }
}
