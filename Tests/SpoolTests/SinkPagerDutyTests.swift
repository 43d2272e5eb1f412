import Testing
@testable import Spool
@testable import SpoolForwarding

/// PagerDuty Events v2 against protocols.md §3 and issue 5; the expected JSON is written by hand.
@Suite struct SinkPagerDutyTests {
    typealias F = SinkFixtures
    static let key = "0123456789abcdef0123456789abcdef"

    static func sink(minimumLevel: LogLevel = .error) throws -> PagerDutySink {
        try PagerDutySink(configuration: .init(routingKey: key, minimumLevel: minimumLevel, source: "host-7.example.net",
                                               component: "billing", group: "payments", eventClass: "payment_declined"))
    }

    @Test func anErrorBecomesOneTriggerEvent() throws {
        let sink = try Self.sink()
        let request = try #require(try sink.encode([
            F.entry(id: 7, at: F.t0 + 123_000_000, .error, "payment declined", context: #"{"order":8812,"topic":"from-context"}"#),
        ]))
        // dedup_key: FNV-1a 64 of "billing.payment\0payment declined", computed with an
        // independent implementation (Python), not by the code under test.
        let expected = try F.json(#"""
            {"routing_key":"0123456789abcdef0123456789abcdef","event_action":"trigger",
             "dedup_key":"spool-db1c549af4216b50","client":"spool",
             "payload":{"summary":"payment declined","source":"host-7.example.net","severity":"error",
               "timestamp":"2024-11-29T09:40:00.123Z","component":"billing","group":"payments",
               "class":"payment_declined",
               "custom_details":{"order":8812,"topic":"billing.payment","level":"error"}}}
            """#)
        #expect(try F.body(request) == expected)
        #expect(request.method == "POST")
        #expect(request.url == "https://events.pagerduty.com/v2/enqueue")
        #expect(F.header(request, "Content-Type") == "application/json")
        #expect(!request.allowsGzip)
        #expect(sink.maximumEntriesPerRequest == 1)
    }

    @Test func entriesBelowTheMinimumAreAcknowledgedWithoutSending() throws {
        let sink = try Self.sink()
        #expect(try sink.encode([F.entry(.info, "fine")]) == nil)
        #expect(try sink.encode([F.entry(.trace, "a"), F.entry(id: 2, .warning, "b")]) == nil)
        let mixed = try #require(try sink.encode([F.entry(id: 1, .info, "a"), F.entry(id: 2, .critical, "b"), F.entry(id: 3, .debug, "c")]))
        guard case .object(let event) = try F.body(mixed), case .object(let payload)? = event["payload"] else {
            Issue.record("not an event")
            return
        }
        #expect(payload["summary"] == "b")
        #expect(payload["severity"] == "critical")
    }

    @Test func twoEligibleEntriesAreRefusedSoTheSchedulerSplits() throws {
        let sink = try Self.sink()
        #expect(throws: SpoolError.self) { try sink.encode([F.entry(id: 1, .error, "a"), F.entry(id: 2, .error, "b")]) }
        do {
            _ = try sink.encode([F.entry(id: 1, .error, "a"), F.entry(id: 2, .critical, "b")])
        } catch {
            #expect(!error.description.contains(Self.key))
        }
    }

    @Test(arguments: [
        (LogLevel.critical, "critical"), (.error, "error"), (.warning, "warning"), (.notice, "warning"),
        (.info, "info"), (.debug, "info"), (.trace, "info"),
    ])
    func severityIsMappedFromTheLevel(_ level: LogLevel, _ severity: String) throws {
        #expect(PagerDutySink.severity(level) == severity)
        let body = try F.body(try Self.sink(minimumLevel: .trace).encode([F.entry(level, "m")]))
        guard case .object(let event) = body, case .object(let payload)? = event["payload"] else {
            Issue.record("not an event")
            return
        }
        #expect(payload["severity"] == .string(severity))
    }

    // MARK: - Summary and dedup

    @Test func summaryIsCutTo1024CharactersWithAnEllipsis() {
        #expect(PagerDutySink.summary(String(repeating: "a", count: 2000)) == String(repeating: "a", count: 1023) + "…")
        let exact = String(repeating: "é", count: 1024)
        #expect(PagerDutySink.summary(exact) == exact)
        // A two-scalar character is never split: 511 of them (1022 scalars), then the ellipsis.
        let thumbs = PagerDutySink.summary(String(repeating: "👍🏽", count: 600))
        #expect(thumbs == String(repeating: "👍🏽", count: 511) + "…")
        #expect(thumbs.unicodeScalars.count <= 1024)
    }

    @Test func anEmptyMessageUsesTheTopicAsSummary() throws {
        let body = try F.body(try Self.sink().encode([F.entry(.error, "")]))
        guard case .object(let event) = body, case .object(let payload)? = event["payload"] else {
            Issue.record("not an event")
            return
        }
        #expect(payload["summary"] == "billing.payment")
    }

    @Test func dedupKeyIsStableForTheSameTopicAndMessage() throws {
        let sink = try Self.sink()
        func key(_ entry: StoredEntry) throws -> JSONValue? {
            guard case .object(let event) = try F.body(try sink.encode([entry])) else { return nil }
            return event["dedup_key"]
        }
        let first = try key(F.entry(id: 1, at: F.t0, .error, "disk full", context: #"{"free":0}"#))
        #expect(first == .string("spool-" + FNVReference.hex(Array("billing.payment\u{0}disk full".utf8))))
        #expect(try key(F.entry(id: 99, at: F.t0 + 60_000_000_000, .critical, "disk full", context: #"{"free":1}"#)) == first)
        #expect(try key(F.entry(id: 2, .error, "disk full!")) != first)
        #expect(try key(F.entry(id: 3, .error, topic: "other", "disk full")) != first)
        #expect(PagerDutySink.dedupKey(topic: "ab", message: "c") != PagerDutySink.dedupKey(topic: "a", message: "bc"))
        #expect(PagerDutySink.dedupKey(topic: String(repeating: "t", count: 5000), message: "m").count <= 255)
    }

    @Test func fnvMatchesThePublishedTestVectors() {
        for (text, hex) in [("", "cbf29ce484222325"), ("a", "af63dc4c8601ec8c"), ("foobar", "85944171f73967e8")] {
            var hash = FNV1a64()
            hash.update(text.utf8)
            #expect(hash.hex == hex)
        }
    }

    @Test func oversizedContextIsCutToStayUnderPagerDutysRequestLimit() throws {
        let context = "{\"dump\":\"" + String(repeating: "\u{1}", count: 200_000) + "\"}"
        let request = try #require(try Self.sink().encode([F.entry(.error, "big", context: context)]))
        #expect(request.body.count <= 512 * 1024)
        guard case .object(let event) = try F.body(request), case .object(let payload)? = event["payload"],
              case .object(let details)? = payload["custom_details"]
        else {
            Issue.record("not an event")
            return
        }
        #expect(details["topic"] == "billing.payment")
        #expect(details["_original_bytes"] != nil)
    }

    // MARK: - The key stays secret

    @Test func theRoutingKeyNeverAppearsInDescriptions() throws {
        let sink = try Self.sink()
        var dumped = ""
        dump(sink, to: &dumped)
        var dumpedConfiguration = ""
        dump(sink.configuration, to: &dumpedConfiguration)
        for text in [
            sink.description, sink.debugDescription, String(describing: sink), String(reflecting: sink),
            sink.configuration.description, String(reflecting: sink.configuration), "\(sink.configuration)",
            dumped, dumpedConfiguration,
        ] {
            #expect(!text.contains(Self.key), "\(text)")
            #expect(!text.contains("0123456789abcdef"))
        }
        #expect(sink.configuration.description.contains("<redacted>"))
        #expect(dumped.contains("host-7.example.net"))  // the mirror still shows the rest
    }

    @Test func emptyKeyIsRefusedAtInit() {
        #expect(throws: SpoolError.self) { try PagerDutySink(configuration: .init(routingKey: "")) }
        #expect(throws: SpoolError.self) { try PagerDutySink(configuration: .init(routingKey: Self.key, url: "events.pagerduty.com")) }
    }

    // MARK: - Classification

    @Test func aRejectedRoutingKeyPausesInsteadOfDeadLettering() throws {
        let sink = try Self.sink()
        let badKey = SinkResponse(status: 400, body: Array(#"{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}"#.utf8))
        #expect(F.name(sink.classify(badKey)) == "misconfigured")
        let badEvent = SinkResponse(status: 400, body: Array(#"{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}"#.utf8))
        #expect(F.name(sink.classify(badEvent)) == "rejected")
        let accepted = SinkResponse(status: 202, body: Array(#"{"status":"success","message":"Event processed","dedup_key":"x"}"#.utf8))
        #expect(sink.classify(accepted) == .delivered)
    }
}

/// An FNV-1a 64 written separately from the sink's, as the test's reference.
enum FNVReference {
    static func hex(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211 }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
