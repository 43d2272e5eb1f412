import Foundation
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Every HTTP sink end to end through the test server: an outage first (503), then delivery of
/// every entry, gzip on the wire exactly where the protocol allows it.
@Suite(.serialized) struct ForwardEverySinkTests {
    enum Kind: String, CaseIterable, Sendable {
        case loki, http, otlp, pagerduty
    }

    func sink(_ kind: Kind, url: String) throws -> any SinkProtocol {
        switch kind {
        case .loki: try LokiSink(configuration: .init(url: url, labels: ["service": "test"]))
        case .http: NDJSONSink(configuration: .init(url: url))
        case .otlp: try OTLPSink(configuration: .init(url: url, serviceName: "test"))
        case .pagerduty: try PagerDutySink(configuration: .init(routingKey: "0123456789abcdef0123456789abcdef", url: url))
        }
    }

    @Test(arguments: Kind.allCases)
    func anOutageThenDeliveryWithGzipWhereTheProtocolAllowsIt(_ kind: Kind) async throws {
        let rig = try ForwardRig()
        let success = kind == .pagerduty ? Behaviour.status(202, body: #"{"status":"success"}"#)
            : kind == .otlp ? Behaviour.status(200, body: "{}") : Behaviour.ok()
        try await TestHTTPServer.withServer(behaviour: .failFor(2, status: 503, then: success)) { server in
            try rig.store.registerSink(kind.rawValue)
            // Errors, so PagerDuty pages for each; long enough that a batch passes the gzip threshold.
            try rig.store.append(contentsOf: (0..<12).map {
                LogEntry(timestamp: 1_732_873_200_000_000_000 + Int64($0), level: .error, topic: "billing",
                         message: "payment \($0) declined " + String(repeating: "x", count: 200))
            })
            let scheduler = rig.scheduler(try sink(kind, url: server.url()), name: kind.rawValue)
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let accepted = Array(server.requests.dropFirst(2))
            let bodies = accepted.map(\.bodyText).joined(separator: "\n")
            for number in 0..<12 { #expect(bodies.contains("payment \(number) declined"), "entry \(number) missing") }
            #expect(try rig.store.stats().entries == 0)
            #expect(scheduler.currentProgress.retries == 2)
            if kind == .pagerduty {
                #expect(accepted.count == 12, "one event per request")
                #expect(accepted.allSatisfy { !$0.isGzipped }, "PagerDuty takes plain JSON")
            } else {
                // The transport gzips bodies of at least 1 KiB (its default threshold), only those.
                #expect(accepted.allSatisfy { $0.isGzipped == ($0.body.count >= 1024) && $0.bodyDecodingError == nil })
                #expect(accepted.contains { $0.isGzipped })
            }
        }
    }
}
