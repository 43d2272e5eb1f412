import Foundation
import Spool
import Synchronization

/// Counters of log entries per level and topic, kept in the spool and pushed to a Prometheus
/// Pushgateway: `spool_log_entries_total{level="error",topic="billing.payment"} 3`.
///
/// Prometheus counters are cumulative, so the Pushgateway is fed the state, not the entries.
/// The work is in two parts:
/// - **Counting** (this sink, a ``LocalSink`` run by the ordinary ``SinkScheduler``): each batch
///   is added to the persisted `counters` table in one transaction
///   (``SpoolStore/count(sink:through:)``); then the batch is acknowledged like any other. A
///   restart does not reset a counter, and no entry is counted twice (see that method).
/// - **Pushing** (``PushgatewayPusher``, a `Service`): the full counter set is `PUT` to
///   `/metrics/job/<job>/instance/<instance>` soon after counts change, on an interval when
///   idle, and once more at shutdown. `PUT` replaces the group, so a repeated push is harmless.
///
/// A Pushgateway outage therefore holds no entry back in the spool: counts wait in the spool and
/// the next push carries them.
///
/// ```swift
/// let gateway = try PushgatewaySink(configuration: .init(url: "http://127.0.0.1:9091", job: "billing"), store: spool)
/// let scheduler = SinkScheduler(store: spool, sink: gateway, transport: transport,
///                               configuration: .init(name: "pushgateway"), owner: "forwarder")
/// let pusher = PushgatewayPusher(sink: gateway, name: "pushgateway", transport: transport)
/// // the pusher first: a ServiceGroup stops services in reverse order, so the final push
/// // comes after the forwarder's last count.
/// let group = ServiceGroup(services: [pusher, Forwarder(schedulers: [scheduler], transport: transport)], …)
/// ```
package struct PushgatewaySink: LocalSink {
    /// The configuration the sink was created with.
    package let configuration: Configuration
    let store: SpoolStore
    /// Sanitized metric name, and the grouping key path.
    let metricName: String
    let url: String
    /// Set when counts changed since the last successful push; shared with the pusher.
    let changes: PushgatewayChanges

    /// Creates the sink, checking the configuration once.
    /// - Parameters:
    ///   - configuration: Where to push and how the metric is named.
    ///   - store: The spool whose `counters` table holds the values.
    /// - Throws: ``SpoolError`` with code `.invalidArgument` for a URL that is not http(s), an
    ///   empty job, or a grouping label named `job` or `instance`, or two grouping labels that
    ///   sanitize to one name.
    package init(configuration: Configuration, store: SpoolStore) throws(SpoolError) {
        self.configuration = configuration
        self.store = store
        metricName = PrometheusText.metricName(configuration.metricName)
        url = try Self.groupURL(configuration)
        changes = PushgatewayChanges()
    }

    /// The group's URL, checking the configuration as ``init(configuration:store:)`` does (a
    /// configuration file is checked with it before any spool is open).
    static func groupURL(_ configuration: Configuration) throws(SpoolError) -> String {
        func invalid(_ message: String) -> SpoolError { SpoolError(.invalidArgument, "Pushgateway sink: \(message)") }
        var base = configuration.url
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else { throw invalid("the URL must start with http:// or https://") }
        while base.hasSuffix("/") { base.removeLast() }
        guard !configuration.job.isEmpty else { throw invalid("the job name is empty; the Pushgateway requires one") }
        var grouping: [(name: String, value: String)] = [("job", configuration.job), ("instance", configuration.instance)]
        for (name, value) in configuration.groupingLabels.sorted(by: { $0.key < $1.key }) {
            let sanitized = PrometheusText.labelName(name)
            guard !grouping.contains(where: { $0.name == sanitized }) else {
                throw invalid("the grouping label '\(name)' clashes with another label named '\(sanitized)'")
            }
            grouping.append((sanitized, value))
        }
        return base + PrometheusText.groupingPath(grouping)
    }

    /// `pushgateway`.
    package var kind: String { "pushgateway" }

    /// Counts the batch into the spool's counters. A spool failure is transient: the batch is
    /// delivered again later, and counting it again adds nothing.
    package func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict {
        guard let last = entries.last?.id else { return .delivered }
        do {
            // A write transaction: off the cooperative pool (BlockingWork).
            let store = self.store
            if try await BlockingWork.run({ () throws(SpoolError) in try store.count(sink: sink, through: last) }) > 0 { changes.mark(sink) }
            return .delivered
        } catch {
            return .retry(after: nil, reason: "could not count entries in the spool: \(error.message)")
        }
    }

    // MARK: - The push

    /// The body for `counters`: HELP, TYPE and one sample per level and topic, by the text
    /// format 0.0.4. No counters is an empty body (the Pushgateway then keeps only
    /// `push_time_seconds` for the group).
    package func body(_ counters: [EntryCounter]) -> String {
        PrometheusText.counter(
            name: metricName, help: configuration.help,
            samples: counters.map { (labels: [("level", $0.level.rawValue), ("topic", $0.topic)], value: $0.value) })
    }

    /// The `PUT` that replaces the group's metrics with `counters`.
    package func request(_ counters: [EntryCounter]) -> SinkRequest {
        SinkRequest(
            method: "PUT", url: url,
            headers: [SinkRequest.Header("Content-Type", "text/plain; version=0.0.4")],
            body: Array(body(counters).utf8), allowsGzip: true)
    }
}

/// Which sinks counted something since their last successful push: the sink marks, the pusher
/// takes. A reference shared by copies of one ``PushgatewaySink``.
final class PushgatewayChanges: Sendable {
    private let changed = Mutex<Set<String>>([])

    func mark(_ sink: String) { _ = changed.withLock { $0.insert(sink) } }

    /// Whether `sink` changed; clears the mark.
    func take(_ sink: String) -> Bool { changed.withLock { $0.remove(sink) != nil } }
}
