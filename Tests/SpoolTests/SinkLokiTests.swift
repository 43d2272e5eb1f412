import Testing
@testable import Spool
@testable import SpoolForwarding

/// Loki push payloads against protocols.md §1; the expected JSON is written by hand.
@Suite struct SinkLokiTests {
    typealias F = SinkFixtures

    @Test func defaultsPutTopicAndContextInStructuredMetadataAndGroupStreamsByLevel() throws {
        var configuration = LokiSink.Configuration(url: "http://127.0.0.1:3100")
        configuration.labels = ["service": "billing", "env": "prod"]
        configuration.tenant = "team-a"
        let sink = try LokiSink(configuration: configuration)
        let request = try #require(try sink.encode([
            F.entry(id: 1, .error, "payment declined order=8812"),
            F.entry(id: 2, at: F.t0 + 500_000_000, .error, "retrying order=8812",
                    context: #"{"attempt":2,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#),
            F.entry(id: 3, at: F.t0 + 1_000_000_000, .info, topic: "auth.login", "user logged in"),
        ]))
        let expected = try F.json(#"""
            {"streams":[
              {"stream":{"service":"billing","env":"prod","level":"error"},
               "values":[
                 ["1732873200000000000","payment declined order=8812",{"topic":"billing.payment"}],
                 ["1732873200500000000","retrying order=8812",
                  {"topic":"billing.payment","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","attempt":"2"}]]},
              {"stream":{"service":"billing","env":"prod","level":"info"},
               "values":[["1732873201000000000","user logged in",{"topic":"auth.login"}]]}
            ]}
            """#)
        #expect(try F.body(request) == expected)
        #expect(request.method == "POST")
        #expect(request.url == "http://127.0.0.1:3100/loki/api/v1/push")
        #expect(F.header(request, "Content-Type") == "application/json")
        #expect(F.header(request, "X-Scope-OrgID") == "team-a")
        #expect(request.allowsGzip)
        #expect(F.header(request, "Authorization") == nil)  // the transport adds credentials
    }

    @Test func topicAsLabelMakesOneStreamPerTopicAndLevelInFirstAppearanceOrder() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki:3100/", topic: .label, line: .json))
        let request = try sink.encode([
            F.entry(id: 1, .error, topic: "a", "one", context: #"{"k":[1,true]}"#),
            F.entry(id: 2, at: F.t0 + 1, .info, topic: "b", "two"),
            F.entry(id: 3, at: F.t0 + 2, .error, topic: "a", "three"),
            F.entry(id: 4, at: F.t0 + 3, .error, topic: "c", "four"),
        ])
        let expected = try F.json(#"""
            {"streams":[
              {"stream":{"level":"error","topic":"a"},"values":[
                ["1732873200000000000","{\"context\":{\"k\":[1,true]},\"message\":\"one\",\"schema\":\"spool/log/v1\",\"topic\":\"a\"}"],
                ["1732873200000000002","{\"message\":\"three\",\"schema\":\"spool/log/v1\",\"topic\":\"a\"}"]]},
              {"stream":{"level":"info","topic":"b"},"values":[
                ["1732873200000000001","{\"message\":\"two\",\"schema\":\"spool/log/v1\",\"topic\":\"b\"}"]]},
              {"stream":{"level":"error","topic":"c"},"values":[
                ["1732873200000000003","{\"message\":\"four\",\"schema\":\"spool/log/v1\",\"topic\":\"c\"}"]]}
            ]}
            """#)
        #expect(try F.body(request) == expected)
        #expect(try #require(request).url == "http://loki:3100/loki/api/v1/push")
        #expect(F.header(try #require(request), "X-Scope-OrgID") == nil)
    }

    @Test func lokiTwoRecipePutsTheTopicInTheLineAndSendsNoMetadata() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki/loki/api/v1/push", topic: .line, contextInStructuredMetadata: false, tenant: ""))
        let request = try #require(try sink.encode([F.entry(.warning, "disk almost full", context: #"{"free":12}"#)]))
        let expected = try F.json(#"""
            {"streams":[{"stream":{"level":"warning"},
              "values":[["1732873200000000000","[billing.payment] disk almost full"]]}]}
            """#)
        #expect(try F.body(request) == expected)
        #expect(request.url == "http://loki/loki/api/v1/push")
        #expect(F.header(request, "X-Scope-OrgID") == nil)
    }

    // MARK: - Names

    @Test(arguments: [
        ("service", "service"), ("service.name", "service_name"), ("k8s-pod/name", "k8s_pod_name"),
        ("9lives", "_9lives"), ("__name__", "_name__"), ("__", "_"), ("", "_"), ("a:b", "a_b"),
        ("_ok", "_ok"), ("ünï", "_n_"), ("A_b9", "A_b9"), ("1.2", "_1_2"),
    ])
    func labelNamesAreSanitizedToLokisRules(_ name: String, _ sanitized: String) {
        #expect(LokiSink.labelName(name) == sanitized)
    }

    @Test func sanitizedNamesAppearInStreamsAndMetadata() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki", labels: ["service.name": "billing", "k8s-pod": "p-1"]))
        let request = try sink.encode([F.entry(.error, "x", context: #"{"order.id":8812,"ok":false,"who":null,"tags":["a"]}"#)])
        let expected = try F.json(#"""
            {"streams":[{"stream":{"service_name":"billing","k8s_pod":"p-1","level":"error"},
              "values":[["1732873200000000000","x",
                {"topic":"billing.payment","order_id":"8812","ok":"false","who":"null","tags":"[\"a\"]"}]]}]}
            """#)
        #expect(try F.body(request) == expected)
    }

    @Test func aContextTopicKeyDoesNotOverrideTheEntrysTopic() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki"))
        let body = try F.body(try sink.encode([F.entry(.error, "x", context: #"{"topic":"spoofed"}"#)]))
        #expect(body == (try F.json(#"{"streams":[{"stream":{"level":"error"},"values":[["1732873200000000000","x",{"topic":"billing.payment"}]]}]}"#)))
    }

    @Test func structuredMetadataStopsAtLokisEntryLimit() throws {
        let keys = (0..<200).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        let sink = try LokiSink(configuration: .init(url: "http://loki"))
        let body = try F.body(try sink.encode([F.entry(.error, "x", context: "{\(keys)}")]))
        guard case .object(let root) = body, case .array(let streams)? = root["streams"],
              case .object(let stream)? = streams.first, case .array(let values)? = stream["values"],
              case .array(let value)? = values.first, case .object(let metadata)? = value.last
        else {
            Issue.record("unexpected shape: \(body)")
            return
        }
        #expect(metadata.count == 128)
        #expect(metadata["topic"] == "billing.payment")
    }

    // MARK: - Configuration checks

    @Test func configurationMistakesAreRefusedAtInitNotAtEncode() {
        func refused(_ configuration: LokiSink.Configuration) -> Bool {
            (try? LokiSink(configuration: configuration)) == nil
        }
        let thirteen = Dictionary(uniqueKeysWithValues: (0..<13).map { ("l\($0)", "v") })
        let fourteen = Dictionary(uniqueKeysWithValues: (0..<14).map { ("l\($0)", "v") })
        #expect(!refused(.init(url: "http://loki", labels: thirteen, topic: .label)))
        #expect(refused(.init(url: "http://loki", labels: fourteen, topic: .label)))
        #expect(!refused(.init(url: "http://loki", labels: fourteen)))
        #expect(refused(.init(url: "http://loki", labels: fourteen.merging(["x": "y"]) { a, _ in a })))
        #expect(refused(.init(url: "http://loki", labels: ["level": "x"])))
        #expect(refused(.init(url: "http://loki", labels: ["topic": "x"], topic: .label)))
        #expect(!refused(.init(url: "http://loki", labels: ["topic": "x"])))
        #expect(refused(.init(url: "http://loki", labels: ["a.b": "1", "a_b": "2"])))
        #expect(refused(.init(url: "http://loki", labels: ["a": ""])))
        #expect(refused(.init(url: "http://loki", labels: ["a": String(repeating: "v", count: 2049)])))
        #expect(!refused(.init(url: "http://loki", labels: ["a": String(repeating: "v", count: 2048)])))
        #expect(refused(.init(url: "loki:3100")))
        #expect(refused(.init(url: "http://loki", maximumLineBytes: 100)))
        #expect(refused(.init(url: "http://loki", tenant: "a\nX-Evil: 1")))
    }

    // MARK: - Limits

    @Test func longMessageLinesAreCutWithAMarker() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki", topic: .label, maximumLineBytes: 1024))
        let body = try F.body(try sink.encode([F.entry(.error, String(repeating: "x", count: 5000))]))
        // 1024 bytes: 998 of the message, then the 26-byte marker "…[truncated: 5000 bytes]".
        let line = String(repeating: "x", count: 998) + "…[truncated: 5000 bytes]"
        let expected = JSONValue.object(["streams": [["stream": ["level": "error", "topic": "billing.payment"], "values": [["1732873200000000000", .string(line)]]]]])
        #expect(body == expected)
        #expect(line.utf8.count == 1024)
    }

    @Test(arguments: [String(repeating: "x", count: 300_000), String(repeating: "\u{1}\"", count: 100_000)])
    func longJSONLinesStayValidJSONWithinTheLimit(_ message: String) throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki", topic: .label, line: .json))
        let context = "{\"big\":\"" + String(repeating: "y", count: 200_000) + "\"}"
        let line = sink.line(for: F.entry(.error, message, context: context))
        #expect(line.utf8.count <= 256 * 1024)
        guard case .object(let object) = try JSONValue(parsing: line), case .string(let cut)? = object["message"],
              case .object(let truncatedContext)? = object["context"]
        else {
            Issue.record("not a JSON line with a message and a context")
            return
        }
        #expect(cut.hasSuffix("…[truncated: \(message.utf8.count) bytes]"))
        #expect(truncatedContext["_original_bytes"] == .int(Int64(context.utf8.count)))
        #expect(object["topic"] == "billing.payment")
    }

    @Test func longTopicLabelValuesAreCutToLokisLimit() throws {
        let sink = try LokiSink(configuration: .init(url: "http://loki", topic: .label))
        let body = try F.body(try sink.encode([F.entry(.error, topic: String(repeating: "t", count: 3000), "x")]))
        guard case .object(let root) = body, case .array(let streams)? = root["streams"], case .object(let stream)? = streams.first,
              case .object(let labels)? = stream["stream"], case .string(let topic)? = labels["topic"]
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(topic.utf8.count <= 2048)
        #expect(topic.hasSuffix("…[truncated: 3000 bytes]"))
    }
}
