import Testing
@testable import Spool
@testable import SpoolForwarding

/// OTLP/HTTP JSON against protocols.md §4; the expected JSON is written by hand.
@Suite struct SinkOTLPTests {
    typealias F = SinkFixtures

    @Test func aBatchIsOneResourceOneScopeAndOneRecordPerEntry() throws {
        let sink = try OTLPSink(configuration: .init(url: "http://127.0.0.1:4318", serviceName: "billing",
                                                     resourceAttributes: ["host.name": "host-7", "service.name": "ignored"]))
        let request = try #require(try sink.encode([
            F.entry(id: 41, .error, "payment declined", context: #"""
                {"order.id":8812,"retryable":false,"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7","trace_flags":1}
                """#),
            F.entry(id: 42, at: F.t0 + 1_000_000, .notice, "slow", context: #"""
                {"req":{"path":"/pay","ms":[1.5,2]},"who":null,"span_id":"xyz","traceId":"00000000000000000000000000000000"}
                """#),
            F.entry(id: 43, at: F.t0 + 2_000_000, .critical, topic: "core", "down"),
        ]))
        let expected = try F.json(#"""
            {"resourceLogs":[{
              "resource":{"attributes":[
                {"key":"host.name","value":{"stringValue":"host-7"}},
                {"key":"service.name","value":{"stringValue":"billing"}}]},
              "scopeLogs":[{
                "scope":{"name":"spool","version":"0.1.0"},
                "logRecords":[
                  {"timeUnixNano":"1732873200000000000","observedTimeUnixNano":"1732873200000000000",
                   "severityNumber":17,"severityText":"error","body":{"stringValue":"payment declined"},
                   "attributes":[
                     {"key":"order.id","value":{"intValue":"8812"}},
                     {"key":"retryable","value":{"boolValue":false}},
                     {"key":"spool.entry_id","value":{"intValue":"41"}},
                     {"key":"spool.topic","value":{"stringValue":"billing.payment"}}],
                   "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":1},
                  {"timeUnixNano":"1732873200001000000","observedTimeUnixNano":"1732873200001000000",
                   "severityNumber":10,"severityText":"notice","body":{"stringValue":"slow"},
                   "attributes":[
                     {"key":"req","value":{"kvlistValue":{"values":[
                       {"key":"ms","value":{"arrayValue":{"values":[{"doubleValue":1.5},{"intValue":"2"}]}}},
                       {"key":"path","value":{"stringValue":"/pay"}}]}}},
                     {"key":"span_id","value":{"stringValue":"xyz"}},
                     {"key":"spool.entry_id","value":{"intValue":"42"}},
                     {"key":"spool.topic","value":{"stringValue":"billing.payment"}},
                     {"key":"traceId","value":{"stringValue":"00000000000000000000000000000000"}},
                     {"key":"who","value":{}}]},
                  {"timeUnixNano":"1732873200002000000","observedTimeUnixNano":"1732873200002000000",
                   "severityNumber":21,"severityText":"critical","body":{"stringValue":"down"},
                   "attributes":[
                     {"key":"spool.entry_id","value":{"intValue":"43"}},
                     {"key":"spool.topic","value":{"stringValue":"core"}}]}
                ]}]}]}
            """#)
        #expect(try F.body(request) == expected)
        #expect(request.method == "POST")
        #expect(request.url == "http://127.0.0.1:4318/v1/logs")
        #expect(F.header(request, "Content-Type") == "application/json")
        #expect(request.allowsGzip)
    }

    @Test(arguments: [
        (LogLevel.trace, 1), (.debug, 5), (.info, 9), (.notice, 10), (.warning, 13), (.error, 17), (.critical, 21),
    ])
    func severityNumbersFollowTheSpecificationsRanges(_ level: LogLevel, _ number: Int) throws {
        #expect(OTLPSink.severityNumber(level) == number)
        let sink = try OTLPSink(configuration: .init(url: "http://c"))
        let text = String(decoding: try #require(try sink.encode([F.entry(level, "m")])).body, as: UTF8.self)
        #expect(text.contains("\"severityNumber\":\(number),\"severityText\":\"\(level.rawValue)\""))
    }

    @Test(arguments: [
        (#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"}"#, "4bf92f3577b34da6a3ce929d0e0e4736" as String?),
        (#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e473"}"#, nil),  // 31 digits
        (#"{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736a"}"#, nil),  // 33 digits
        (#"{"trace_id":"zbf92f3577b34da6a3ce929d0e0e4736"}"#, nil),  // not hex
        (#"{"trace_id":12345}"#, nil),  // not a string
        (#"{"trace_id":"00000000000000000000000000000000"}"#, nil),  // all zero is invalid
    ])
    func traceIdsAreTakenOnlyWhenValid(_ context: String, _ traceId: String?) throws {
        let sink = try OTLPSink(configuration: .init(url: "http://c"))
        guard case .object(let root) = try F.body(try sink.encode([F.entry(.info, "m", context: context)])),
              case .array(let resources)? = root["resourceLogs"], case .object(let resource)? = resources.first,
              case .array(let scopes)? = resource["scopeLogs"], case .object(let scope)? = scopes.first,
              case .array(let records)? = scope["logRecords"], case .object(let record)? = records.first,
              case .array(let attributes)? = record["attributes"]
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(record["traceId"] == traceId.map(JSONValue.string))
        // A refused id stays an attribute: nothing from the context is lost.
        #expect(attributes.count == (traceId == nil ? 3 : 2))
    }

    @Test func urlGetsTheLogsPathOnce() throws {
        #expect(try OTLPSink(configuration: .init(url: "http://c:4318/")).url == "http://c:4318/v1/logs")
        #expect(try OTLPSink(configuration: .init(url: "http://loki:3100/otlp/v1/logs")).url == "http://loki:3100/otlp/v1/logs")
        #expect(throws: SpoolError.self) { try OTLPSink(configuration: .init(url: "c:4318")) }
    }

    // MARK: - partialSuccess

    static let sink = try! OTLPSink(configuration: .init(url: "http://c"))

    @Test func partialSuccessIsReportedNotRetried() {
        let response = SinkResponse(status: 200, body: Array(#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}"#.utf8))
        #expect(Self.sink.classify(response) == .partiallyDelivered(rejected: 2, reason: "OTLP partial success: 2 log records rejected: too old"))
        let numeric = SinkResponse(status: 200, body: Array(#"{"partialSuccess":{"rejectedLogRecords":3}}"#.utf8))
        #expect(Self.sink.classify(numeric) == .partiallyDelivered(rejected: 3, reason: "OTLP partial success: 3 log records rejected"))
    }

    @Test(arguments: [
        "", "{}", #"{"partialSuccess":{}}"#, #"{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"just a warning"}}"#,
        "\u{0A}\u{0B}\u{01}binary protobuf", #"{"partialSuccess":{"rejectedLogRecords":"-4"}}"#, "[1,2]",
    ])
    func otherSuccessBodiesAreFullDelivery(_ body: String) {
        #expect(Self.sink.classify(SinkResponse(status: 200, body: Array(body.utf8))) == .delivered)
    }

    @Test func partialSuccessOnAnErrorStatusIsStillTheErrorsVerdict() {
        let body = Array(#"{"partialSuccess":{"rejectedLogRecords":"2"}}"#.utf8)
        #expect(SinkFixtures.name(Self.sink.classify(SinkResponse(status: 400, body: body))) == "rejected")
    }
}
