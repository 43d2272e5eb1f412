import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Every kind of problem is refused at load, with its key path and line.
@Suite struct ConfigurationErrorTests {
    typealias F = ConfigurationFixtures

    @Test func aBadValueIsReportedWithItsKeyPathLineAndValue() {
        let message = F.refusal("""
            spool:
              path: a.spool
            sinks:
              loki:
                type: loki
                url: http://127.0.0.1:3100
                batch_size: ten
            """)
        #expect(message == #"sinks.loki.batch_size: line 7: expected a positive integer, got "ten""#)
    }

    @Test(arguments: [
        ("batch_size: 0", #"sinks.s.batch_size: line 7: expected a positive integer (at most 1000000), got 0"#),
        ("batch_size: 99999999999999999999999", #"sinks.s.batch_size: line 7: expected a positive integer, got "99999999999999999999999""#),
        ("batch_bytes: lots", #"sinks.s.batch_bytes: line 7: expected a size such as 1048576, 512KiB or 1GiB, got "lots""#),
        ("batch_bytes: 10", #"sinks.s.batch_bytes: line 7: expected at least 1024 bytes, got "10""#),
        ("batch_wait: 5", #"sinks.s.batch_wait: line 7: expected a duration such as 500ms, 2s or 5m, got "5""#),
        ("lease: 0s", #"sinks.s.lease: line 7: expected a duration such as 500ms, 2s or 5m, greater than zero, got "0s""#),
        ("lease: 500ms", #"sinks.s.lease: line 7: a lease shorter than 1s would expire while a request is in flight"#),
        ("max_in_flight: 2000", #"sinks.s.max_in_flight: line 7: expected a positive integer (at most 1000), got 2000"#),
        ("minimum_level: loud", #"sinks.s.minimum_level: line 7: expected a level (trace, debug, info, notice, warning, error, critical), got "loud""#),
        ("rate_limit: {per_second: -1}", #"sinks.s.rate_limit.per_second: line 7: expected a positive number (at most 1e12), got "-1""#),
        ("rate_limit: {burst: 3}", #"sinks.s.rate_limit: line 7: missing required key 'per_second'"#),
        ("breaker: {failure_threshold: [1]}", #"sinks.s.breaker.failure_threshold: line 7: expected a positive integer, got a list"#),
        ("retry: {min_backoff: 2m, max_backoff: 1m}", #"sinks.s.retry: line 7: min_backoff (120.0 seconds) is longer than max_backoff (60.0 seconds)"#),
        ("labels: [a, b]", #"sinks.s.labels: line 7: expected a mapping of names to values, got a list"#),
        ("topic: stream", #"sinks.s.topic: line 7: expected one of structured_metadata, label, line, got "stream""#),
        ("context_in_structured_metadata: yes", #"sinks.s.context_in_structured_metadata: line 7: expected true or false, got "yes""#),
        ("tenant: ", #"sinks.s.tenant: line 7: expected text, got nothing"#),
    ])
    func eachBadSinkValueNamesItsKeyAndLine(line: String, expected: String) {
        let yaml = F.withSink("type: loki\nurl: http://127.0.0.1:3100\n" + line)
        #expect(F.refusal(yaml) == expected)
    }

    @Test func badValuesOutsideSinksNameTheirKeyAndLine() {
        let message = F.refusal("""
            spool:
              path: a.spool
              durability: sometimes
              max_size: 10
              overflow: drop_everything
            transport:
              request_timeout: forever
              max_concurrent_requests: -3
            redaction:
              keys: password
            ingest:
              topic: ""
            """)
        #expect(message.split(separator: "\n") == [
            #"spool.durability: line 3: expected one of committed, fsync, buffered, got "sometimes""#,
            #"spool.max_size: line 4: expected at least 262144 bytes, got "10": an empty spool's tables take 56 KiB, so a bound near that would drop every entry"#,
            #"spool.overflow: line 5: expected one of drop_oldest, drop_newest, reject, got "drop_everything""#,
            #"transport.request_timeout: line 7: expected a duration such as 500ms, 2s or 5m, greater than zero, got "forever""#,
            #"transport.max_concurrent_requests: line 8: expected a positive integer (at most 10000), got -3"#,
            #"redaction.keys: line 10: expected a list, got "password""#,
            #"ingest.topic: line 12: expected text, got nothing"#,
        ])  // in line order, whatever order the loader reads the sections in
    }

    /// A sink whose URL is refused still has the rest of it read: every problem at once.
    @Test(arguments: ["http", "loki", "otlp"])
    func aBadURLDoesNotHideTheSinksOtherProblems(type: String) {
        let message = F.refusal("""
            spool:
              path: a.spool
            sinks:
              out:
                type: \(type)
                url: http://user:pass@127.0.0.1:9/x
                batch_wait: 30
                batch_size: ten
                credentials: {bearer_env: ""}
            """)
        let lines = message.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(message)")
        #expect(lines.first?.hasPrefix("sinks.out.url: line 6: the URL has a user name or password in it") == true, "\(message)")
        #expect(lines.contains { $0.hasPrefix("sinks.out.batch_wait: line 7:") } && lines.contains { $0.hasPrefix("sinks.out.batch_size: line 8:") }, "\(message)")
        #expect(lines.contains { $0.hasPrefix("sinks.out.credentials") }, "\(message)")
    }

    @Test func maxDelayWithoutBufferedIsRefused() {
        #expect(F.refusal("spool:\n  path: a\n  max_delay: 1s\n")
            == "spool.max_delay: line 3: max_delay applies only to durability: buffered (durability is committed)")
    }

    @Test func missingRequiredKeysAreNamed() {
        #expect(F.refusal("sinks: {}\n") == "spool: line 1: missing required key 'spool' (the spool file and how it is written)")
        #expect(F.refusal("spool:\n  path: \"\"\n") == "spool.path: line 2: expected text, got nothing")
        #expect(F.refusal("spool:\n  durability: fsync\n") == "spool.path: line 2: missing required key 'path' (the spool file, e.g. /var/lib/app/app.spool)")
        #expect(F.refusal(F.withSink("url: http://x")) == "sinks.s: line 5: missing required key 'type' (one of loki, http, otlp, pagerduty, pushgateway, console)")
        #expect(F.refusal(F.withSink("type: http")) == "sinks.s: line 5: missing required key 'url'")
        #expect(F.refusal(F.withSink("type: pagerduty")) == "sinks.s: line 5: missing routing_key_env: VARIABLE or routing_key_file: PATH")
    }

    @Test(arguments: [
        ("", "spool: line 1: missing required key 'spool' (the spool file and how it is written)"),
        ("spool:\n  path: a\nspoll: 1\n", "spoll: line 3: unknown key 'spoll'; expected one of: version, spool, redaction, transport, sinks, ingest, metrics"),
        ("spool:\n  path: a\n  pathh: b\n", "spool.pathh: line 3: unknown key 'pathh'; expected one of: path, durability, max_delay, max_size, overflow, max_message_size, busy_timeout"),
        ("spool: {path: a}\nredaction: {keyz: []}\n", "redaction.keyz: line 2: unknown key 'keyz'; expected one of: keys, extra_keys, marker"),
        ("spool: {path: a}\ntransport: {timeout: 1s}\n", "transport.timeout: line 2: unknown key 'timeout'; expected one of: connect_timeout, request_timeout, gzip_threshold, gzip_level, max_concurrent_requests, user_agent"),
    ])
    func unknownKeysAreRefusedAtTheTopLevels(yaml: String, expected: String) {
        if yaml.isEmpty {
            #expect(F.refusal("version: 1\n") == expected)
        } else {
            #expect(F.refusal(yaml) == expected)
        }
    }

    @Test(arguments: [
        ("batchsize: 3", "sinks.s.batchsize: line 7: unknown key 'batchsize'; expected one of: type, url, minimum_level,"),
        ("rate_limit: {per_second: 1, bursts: 2}", "sinks.s.rate_limit.bursts: line 7: unknown key 'bursts'; expected one of: per_second, burst"),
        ("breaker: {threshold: 2}", "sinks.s.breaker.threshold: line 7: unknown key 'threshold'; expected one of: failure_threshold, cool_down"),
        ("retry: {attempts: 2}", "sinks.s.retry.attempts: line 7: unknown key 'attempts'; expected one of: quick_attempts,"),
        ("credentials: {oauth: {}}", "sinks.s.credentials: line 7: an unknown key (not shown here: it may be a secret); expected one of: basic, bearer, headers"),
        ("credentials: {basic: {user: a, password_env: P}}", "sinks.s.credentials.basic: line 7: an unknown key (not shown here: it may be a secret); expected one of: username, password_env, password_file"),
        ("credentials: {bearer: {token_name: T}}", "sinks.s.credentials.bearer: line 7: an unknown key (not shown here: it may be a secret); expected one of: token_env, token_file"),
        ("credentials: {headers: {X-Key: {environment: K}}}", "sinks.s.credentials.headers.X-Key: line 7: an unknown key (not shown here: it may be a secret); expected one of: env, file"),
        ("service_name: billing", "sinks.s.service_name: line 7: unknown key 'service_name'; expected one of: type, url,"),
    ])
    func unknownKeysAreRefusedInSinks(line: String, expected: String) {
        let message = F.refusal(F.withSink("type: loki\nurl: http://127.0.0.1:3100\n" + line))
        #expect(message.hasPrefix(expected), "\(message)")
    }

    @Test func aKeyOfAnotherSinkTypeIsUnknownForThisType() {
        let message = F.refusal(F.withSink("type: otlp\nurl: http://127.0.0.1:4318\nlabels: {a: b}"))
        #expect(message.hasPrefix("sinks.s.labels: line 7: unknown key 'labels'; expected one of: type, url,"))
        #expect(message.hasSuffix("service_name, resource_attributes, scope_name, scope_version"))
    }

    @Test func unknownTypesSayUnknownAndListEveryType() {
        #expect(F.refusal(F.withSink("type: kafka\nurl: http://x"))
            == #"sinks.s.type: line 5: unknown sink type "kafka"; expected one of loki, http, otlp, pagerduty, pushgateway, console"#)
    }

    @Test func urlsAreChecked() {
        #expect(F.refusal(F.withSink("type: http\nurl: ftp://files.example.net/")) == "sinks.s.url: line 6: expected an http:// or https:// URL (scheme in lower case)")
        // Every sink checks its URL in lower case: refused here, at the url line, for all of them.
        #expect(F.refusal(F.withSink("type: loki\nurl: HTTPS://logs.example.net")) == "sinks.s.url: line 6: expected an http:// or https:// URL (scheme in lower case)")
        #expect(F.refusal(F.withSink("type: http\nurl: \"http://\"")) == "sinks.s.url: line 6: not a valid URL")
    }

    @Test func theSinksOwnChecksAreReportedWithALine() {
        let message = F.refusal(F.withSink("type: loki\nurl: http://127.0.0.1:3100\nlabels: {level: high}"))
        #expect(message == "sinks.s: line 7: Loki sink: the label 'level' is set by the sink")
    }

    @Test func badSinkNamesAndShapesAreRefused() {
        #expect(F.refusal("spool: {path: a}\nsinks:\n  \"my sink\": {type: http, url: \"http://x\"}\n")
            == "sinks.my sink: line 3: a sink name is 1 to 64 letters, digits, '_', '-' or '.'")
        #expect(F.refusal("spool: {path: a}\nsinks:\n  s: http\n") == #"sinks.s: line 3: expected a sink (a mapping with at least 'type'), got "http""#)
        #expect(F.refusal("spool: {path: a}\nsinks: [a]\n") == "sinks: line 2: expected a mapping of names to values, got a list")
        #expect(F.refusal("- a\n- b\n") == "line 1: expected a mapping of keys to values, got a list")
    }

    @Test func duplicateKeysAreRefusedWithTheirLine() {
        #expect(F.refusal("spool:\n  path: a\n  path: b\n") == "line 2: the same key is written twice in one mapping: 'path'")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let message = F.refusal("""
            spool:
              path: a
              colour: blue
            sinks:
              a: {type: http, url: "http://x", batch_size: ten}
              b: {type: loki}
            """)
        #expect(message.split(separator: "\n").map { $0.prefix(while: { $0 != ":" }) } == ["spool.colour", "sinks.a.batch_size", "sinks.b"])
    }

    @Test func aFlood_ofProblemsIsCut() {
        let lines = (0..<50).map { "  k\($0): 1" }.joined(separator: "\n")
        let message = F.refusal("spool:\n  path: a\n" + lines)
        let reported = message.split(separator: "\n")
        #expect(reported.count == 21)
        #expect(reported.last == "… and 30 more problems")
    }

    @Test func yamlSyntaxErrorsGiveLineAndColumnWithoutQuotingTheLine() {
        let message = F.refusal("spool:\n  path: a\n  durability: committed: sometimes\n")
        #expect(message.hasPrefix("line 3, column 24: invalid YAML: mapping values are not allowed in this context"), "\(message)")
        #expect(!message.contains("sometimes"))
        #expect(F.refusal("spool: {path: a}\n---\nspool: {path: b}\n").hasPrefix("line 2, column 1: invalid YAML: but found another document"))
    }

    @Test func aFileThatCannotBeReadIsAnIOError() throws {
        let directory = TemporaryDirectory()
        let missing = #expect(throws: SpoolError.self) { try SpoolConfiguration(contentsOfFile: directory.file("none.yaml")) }
        #expect(missing?.code == .io)
        #expect(missing?.message == "the configuration file \(directory.file("none.yaml")) does not exist")
        let isDirectory = #expect(throws: SpoolError.self) { try SpoolConfiguration(contentsOfFile: directory.path) }
        #expect(isDirectory?.message == "the configuration file \(directory.path) is a directory")
        let path = directory.file("bad.yaml")
        try "spool:\n  path: a\n  size: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let invalid = #expect(throws: SpoolError.self) { try SpoolConfiguration(contentsOfFile: path) }
        #expect(invalid?.code == .configuration)
        #expect(invalid?.message.hasPrefix("\(path): spool.size: line 3: unknown key 'size'") == true)
    }
}
