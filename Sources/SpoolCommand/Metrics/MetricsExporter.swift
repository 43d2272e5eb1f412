import Foundation
import Metrics
import Prometheus
import Spool
import SpoolForwarding
import Synchronization

/// What `GET /metrics` and `GET /health` of `spool forward --metrics-address` answer.
///
/// The sinks' metrics arrive through swift-metrics (the schedulers report to
/// ``SpoolMetricsFactory``'s registry); the spool's own counts are read from the file at each
/// scrape (``SpoolStore/scrape()``), so they agree with `spool stats` and continue across
/// restarts; the process's are set once.
final class MetricsExporter: Sendable {
    let factory: SpoolMetricsFactory
    let store: SpoolStore
    /// A sink failing without a break for longer than this makes `/health` answer 503.
    let unhealthyAfter: Duration
    private let sinks = Mutex<[WatchedSink]>([])
    private let accepted: Prometheus.Counter
    private let rawLines: Prometheus.Counter
    private let fileBytes: Prometheus.Gauge
    private let walBytes: Prometheus.Gauge
    /// What the file's counts were at the last scrape, so each counter grows by the difference.
    private let exported = Mutex<[String: Int64]>([:])
    /// One scrape at a time: the counters are read and raised as one step.
    private let scraping = Mutex(())

    init(store: SpoolStore, factory: SpoolMetricsFactory, unhealthyAfter: Duration, startTime: Date = Date()) {
        self.store = store
        self.factory = factory
        self.unhealthyAfter = unhealthyAfter
        let registry = factory.registry
        func descriptor(_ name: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: MetricsCatalogue.help(name))
        }
        accepted = registry.makeCounter(descriptor: descriptor("spool_entries_accepted_total"))
        rawLines = registry.makeCounter(descriptor: descriptor("spool_input_lines_stored_raw_total"))
        fileBytes = registry.makeGauge(descriptor: descriptor("spool_file_bytes"))
        walBytes = registry.makeGauge(descriptor: descriptor("spool_wal_bytes"))
        registry.makeGauge(descriptor: descriptor("spool_build_info"), labels: [("version", SpoolCLI.version)]).set(to: 1)
        registry.makeGauge(descriptor: descriptor("process_start_time_seconds")).set(to: startTime.timeIntervalSince1970.rounded(.down))
    }

    /// A sink as `/health` and the backlog gauges know it.
    struct WatchedSink: Sendable {
        /// The name people know it by (`/health`).
        var name: String
        /// Its name in the spool, and the value of its metrics' `sink` label.
        var registeredName: String
        var scheduler: SinkScheduler
    }

    /// The sinks `/health` speaks of and whose backlog each scrape reads.
    func watch(_ sinks: [WatchedSink]) {
        self.sinks.withLock { $0 = sinks }
    }

    /// The Prometheus text exposition, with the spool's counts read now. A spool that cannot be
    /// read (locked past its busy timeout) leaves them as the last scrape saw them.
    func exposition() -> [UInt8] {
        scraping.withLock { _ in
            if let scrape = try? store.scrape() { record(scrape) }
            recordBacklogs()
        }
        return factory.registry.emitToBuffer()
    }

    /// Each sink's pending entries and oldest pending age, read now: the scheduler records them
    /// too, but only between settlements, so during an outage (a batch in backoff) its values
    /// would stand still exactly when lag matters.
    private func recordBacklogs() {
        let registry = factory.registry
        let now = Date().timeIntervalSince1970
        for sink in sinks.withLock({ $0 }) {
            guard let backlog = try? store.backlog(of: sink.registeredName) else { continue }
            let labels = [("sink", sink.registeredName)]
            func gauge(_ name: String) -> Prometheus.Gauge {
                registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: MetricsCatalogue.help(name)), labels: labels)
            }
            gauge("spool_pending_entries").set(to: Double(backlog.entries))
            let age = backlog.oldestPendingSince.map { max(0, now - Double($0) / 1e9) } ?? 0
            gauge("spool_oldest_pending_age_seconds").set(to: age)
        }
    }

    private func record(_ scrape: SpoolScrape) {
        let registry = factory.registry
        fileBytes.set(to: Double(scrape.fileBytes))
        walBytes.set(to: Double(scrape.walBytes))
        var counts = ["accepted": scrape.acceptedEntries, "raw": scrape.rawStoredLines]
        for (reason, count) in scrape.droppedByPolicy { counts["drop " + reason] = count }
        let before = exported.withLock { exported in
            defer { for (key, value) in counts { exported[key] = max(exported[key] ?? 0, value) } }
            return exported
        }
        func raise(_ counter: Prometheus.Counter, _ key: String) {
            let grown = (counts[key] ?? 0) - (before[key] ?? 0)
            if grown > 0 { counter.increment(by: grown) }
        }
        raise(accepted, "accepted")
        raise(rawLines, "raw")
        // Every reason from the first scrape on, at 0 until it happens: a series that appears
        // only with its first drop would already stand at N, and `increase(...) > 0` would miss it.
        for reason in Set(SpoolStore.dropReasons).union(scrape.droppedByPolicy.keys).sorted() {
            let counter = registry.makeCounter(descriptor: MetricNameDescriptor(
                metricName: "spool_entries_dropped_total", unitName: "", helpText: MetricsCatalogue.help("spool_entries_dropped_total")),
                labels: [("reason", reason)])
            raise(counter, "drop " + reason)
        }
    }

    /// What `/health` says of one sink.
    struct SinkReport: Encodable {
        var sink: String
        var status: String
        var breaker: String
        var reason: String?
        var failingSeconds: Int64?
        var problem: String?
    }

    /// What `/health` answers (snake_case keys).
    struct Report: Encodable {
        var status: String
        var unhealthyAfterSeconds: Int64
        var sinks: [SinkReport]
    }

    /// 200 while every sink delivers or is idle (or fails for less than ``unhealthyAfter``);
    /// 503 naming each sink that is paused or has failed for longer.
    func health() -> (healthy: Bool, body: [UInt8]) {
        let threshold = unhealthyAfter
        let reports = sinks.withLock { $0 }.map { sink in
            let health = sink.scheduler.health(failingLongerThan: threshold)
            let seconds = health.failingFor.components.seconds
            return SinkReport(sink: sink.name, status: health.status.rawValue, breaker: health.breaker.rawValue,
                              reason: health.pauseReason?.rawValue, failingSeconds: seconds > 0 ? seconds : nil, problem: health.problem)
        }
        let healthy = reports.allSatisfy { $0.status == SinkHealth.Status.ok.rawValue }
        let report = Report(status: healthy ? "ok" : "unhealthy", unhealthyAfterSeconds: threshold.components.seconds, sinks: reports)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let body = (try? encoder.encode(report)).map { Array($0) + [UInt8(ascii: "\n")] } ?? Array("{\"status\":\"unknown\"}\n".utf8)
        return (healthy, body)
    }
}
