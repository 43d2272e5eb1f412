import Metrics
import Spool

/// `spool_delivery_latency_seconds{sink}`: per entry, the time from its commit to the
/// acknowledgement that passed it, as a swift-metrics timer (a histogram in Prometheus).
/// The samples come from the acknowledging transaction (``SpoolStore/acknowledge(sink:owner:through:delivered:deadLetters:droppedByDestination:dropReason:)``),
/// which writes the same samples into the spool's persisted histogram.
struct DeliveryLatencyMetric: Sendable {
    let timer: Metrics.Timer

    init(sink: String, factory: any MetricsFactory) {
        timer = Metrics.Timer(label: "spool_delivery_latency_seconds", dimensions: [("sink", sink)], factory: factory)
    }

    /// One sample per entry: entries of one commit group share their latency.
    func record(_ acknowledgement: Acknowledgement) {
        for sample in acknowledgement.latencies {
            for _ in 0..<sample.count { timer.recordNanoseconds(sample.nanoseconds) }
        }
    }
}
