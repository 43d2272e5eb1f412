import Metrics
import Prometheus
import SpoolForwarding

/// The swift-metrics backend of `spool forward --metrics-address`: swift-prometheus's registry,
/// with a `# HELP` line and fitting buckets for every metric Spool reports.
///
/// swift-prometheus' own factory registers every metric without help text, which
/// `promtool check metrics` reports as a problem; and its default buckets (5 ms to 10 s) fit
/// request latency but neither batch sizes nor how late an entry arrives after an outage. So
/// every metric is made here through the registry's descriptor API, with the text of
/// ``MetricsCatalogue``. A name the catalogue does not know still gets a help line naming it.
struct SpoolMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricsCatalogue.help(label))
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: MetricsCatalogue.buckets(label))
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = MetricsCatalogue.buckets(label).map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}

/// What each metric means (its `# HELP` line; docs/operations.md has the same list) and the
/// buckets of the histograms.
enum MetricsCatalogue {
    static let helpTexts: [String: String] = [
        // Per sink (SinkScheduler).
        "spool_entries_delivered_total": "Entries the destination acknowledged, by sink, since the forwarder started.",
        "spool_entries_dead_lettered_total": "Entries the destination rejected for good (kept in dead_letters), by sink.",
        "spool_entries_dropped_by_destination_total": "Entries the destination accepted the batch of but dropped itself (a partial success), by sink.",
        "spool_requests_failed_total": "Requests that did not deliver their batch: retried, split, rejected or misconfigured, by sink.",
        "spool_requests_retried_total": "Failed requests that are retried (network errors, 408, 429, 5xx), by sink.",
        "spool_request_duration_seconds": "Duration of each request to the destination, failures included, by sink.",
        "spool_batch_entries": "Entries per claimed batch, by sink.",
        "spool_batches_in_flight": "Batches sent and not yet settled, by sink.",
        "spool_breaker_state": "The sink's circuit breaker: 0 closed, 1 half-open, 2 open.",
        "spool_sink_paused": "1 while the sink is paused for the reason (misconfigured: 401/403/404 or a bad URL; rejections: a run of rejected entries), else 0.",
        "spool_pending_entries": "Entries not yet delivered to the sink (its backlog).",
        "spool_oldest_pending_age_seconds": "Seconds the sink's oldest pending entry has waited since its commit, 0 when none is pending.",
        "spool_delivery_latency_seconds": "Time from an entry's commit to the acknowledgement that passed it, by sink.",
        // Per spool (read from the file at each scrape).
        "spool_entries_accepted_total": "Entries ever accepted into the spool (its highest entry id).",
        "spool_entries_dropped_total": "Entries dropped by the spool's size bound, by reason (overflow or disk_full, and the policy).",
        "spool_input_lines_stored_raw_total": "Input lines (spool ingest, forward --stdin) that did not parse and were stored raw.",
        "spool_wal_bytes": "Size of the spool's -wal file in bytes.",
        "spool_file_bytes": "Size of the spool's database file in bytes.",
        // Per process.
        "spool_build_info": "Always 1; the version label says which spool runs.",
        "process_start_time_seconds": "When the forwarder started, in seconds since the Unix epoch.",
    ]

    static func help(_ name: String) -> String {
        helpTexts[name] ?? "Spool metric \(name) (docs/operations.md)."
    }

    /// Bucket bounds, in the metric's unit (seconds for durations).
    static func buckets(_ name: String) -> [Double] {
        switch name {
        case "spool_batch_entries":
            [1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000]
        case "spool_delivery_latency_seconds":
            // From a fraction of a second (a batch's wait) to an hour (an outage being caught up).
            [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
        case let name where name.hasSuffix("_seconds"):
            // A request: from a loopback answer to the 10 s request timeout and past it.
            [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        default:
            [1, 10, 100, 1000, 10_000, 100_000]
        }
    }
}
