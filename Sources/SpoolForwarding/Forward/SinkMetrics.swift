import Metrics

/// The sink's metrics, through swift-metrics: whatever backend the app bootstrapped gets them.
/// Names follow Prometheus' conventions (docs/operations.md, "Reading the metrics").
struct SinkMetrics: Sendable {
    let delivered: Counter
    let failed: Counter
    let retried: Counter
    let deadLettered: Counter
    let dropped: Counter
    let latency: Metrics.Timer
    let batchSize: Recorder
    let breakerState: Gauge
    let inFlight: Gauge
    /// One series per reason, 1 for the reason the sink is paused for, 0 otherwise.
    let paused: [(reason: SinkScheduler.PauseReason, gauge: Gauge)]
    let depth: Gauge
    let oldestPendingAge: Gauge
    let walBytes: Gauge

    init(sink: String, factory: any MetricsFactory) {
        let dimensions = [("sink", sink)]
        delivered = Counter(label: "spool_entries_delivered_total", dimensions: dimensions, factory: factory)
        failed = Counter(label: "spool_requests_failed_total", dimensions: dimensions, factory: factory)
        retried = Counter(label: "spool_requests_retried_total", dimensions: dimensions, factory: factory)
        deadLettered = Counter(label: "spool_entries_dead_lettered_total", dimensions: dimensions, factory: factory)
        dropped = Counter(label: "spool_entries_dropped_by_destination_total", dimensions: dimensions, factory: factory)
        latency = Metrics.Timer(label: "spool_request_duration_seconds", dimensions: dimensions, factory: factory)
        batchSize = Recorder(label: "spool_batch_entries", dimensions: dimensions, factory: factory)
        breakerState = Gauge(label: "spool_breaker_state", dimensions: dimensions, factory: factory)
        inFlight = Gauge(label: "spool_batches_in_flight", dimensions: dimensions, factory: factory)
        paused = SinkScheduler.PauseReason.allCases.map { reason in
            (reason, Gauge(label: "spool_sink_paused", dimensions: dimensions + [("reason", reason.rawValue)], factory: factory))
        }
        depth = Gauge(label: "spool_pending_entries", dimensions: dimensions, factory: factory)
        oldestPendingAge = Gauge(label: "spool_oldest_pending_age_seconds", dimensions: dimensions, factory: factory)
        // The spool's, not the sink's: a reader holding an old snapshot makes it grow.
        walBytes = Gauge(label: "spool_wal_bytes", dimensions: [], factory: factory)
        // Every series exists from the start, so a scrape (and an alert on it) sees 0, not nothing.
        breakerState.record(0)
        inFlight.record(0)
        recordPause(nil)
    }

    /// Sets `spool_sink_paused`: 1 for `reason`, 0 for every other (all 0 when running).
    func recordPause(_ reason: SinkScheduler.PauseReason?) {
        for series in paused { series.gauge.record(series.reason == reason ? 1 : 0) }
    }
}
