import Foundation
import MetricsTestKit
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

@Suite(.serialized) struct ForwardLatencyMetricTests {
    /// Every entry an acknowledgement passes gives one `spool_delivery_latency_seconds` sample,
    /// the same samples the spool's persisted histogram counts (what `spool stats` shows).
    @Test func deliveryLatencyIsRecordedPerEntryAsTheSpoolRecordsIt() async throws {
        let rig = try ForwardRig()
        let metrics = TestMetrics()
        try await TestHTTPServer.withServer(behaviour: .rejectEntries(containing: "poison", status: 400)) { server in
            try rig.store.registerSink("http")
            try rig.append(20, marker: { $0 == 5 })
            let scheduler = rig.scheduler(NDJSONSink(configuration: .init(url: server.url()))) {
                $0.metricsFactory = metrics
                $0.maxInFlight = 1
            }
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let samples = try metrics.expectTimer("spool_delivery_latency_seconds", [("sink", "http")]).values
            let persisted = try #require(try rig.store.stats().sinks.first { $0.name == "http" }?.latency)
            #expect(samples.count == 20)  // 19 delivered and 1 dead letter, each passed once
            #expect(persisted.count == 20)
            #expect(samples.allSatisfy { $0 >= 0 })
            #expect(Double(samples.max() ?? 0) / 1e9 == persisted.maxSeconds)
        }
    }
}
