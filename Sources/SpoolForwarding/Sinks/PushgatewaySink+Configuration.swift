import Foundation
import Spool

extension PushgatewaySink {
    /// Where to push, the grouping key and the metric's name, with documented defaults.
    package struct Configuration: Sendable, Hashable {
        /// The Pushgateway's base URL, e.g. `http://127.0.0.1:9091`. No default.
        package var url: String
        /// The `job` of the grouping key. Default `spool`.
        package var job: String
        /// The `instance` of the grouping key. Default this host's name.
        package var instance: String
        /// More grouping-key labels (names sanitized; `job` and `instance` are taken).
        /// Default none.
        package var groupingLabels: [String: String]
        /// The counter's name, sanitized to `[a-zA-Z_][a-zA-Z0-9_]*`. Default
        /// `spool_log_entries_total`.
        package var metricName: String
        /// The counter's `# HELP` text. Default `Log entries spooled, by level and topic.`
        package var help: String
        /// Counts are pushed at least this often, changed or not (it keeps `push_time_seconds`
        /// fresh and refills a Pushgateway that restarted without persistence); a failed push
        /// is tried again after this long. Default 15 s.
        package var interval: Duration
        /// After a push, changed counts wait at least this long before the next one, so a busy
        /// spool does not push per batch. Default 1 s.
        package var minimumSpacing: Duration

        /// Creates a configuration; see each property for its default.
        package init(
            url: String,
            job: String = "spool",
            instance: String = ProcessInfo.processInfo.hostName,
            groupingLabels: [String: String] = [:],
            metricName: String = "spool_log_entries_total",
            help: String = "Log entries spooled, by level and topic.",
            interval: Duration = .seconds(15),
            minimumSpacing: Duration = .seconds(1)
        ) {
            self.url = url
            self.job = job
            self.instance = instance
            self.groupingLabels = groupingLabels
            self.metricName = metricName
            self.help = help
            self.interval = interval
            self.minimumSpacing = minimumSpacing
        }
    }
}

extension ResponseTable {
    /// The Pushgateway: a push carries the whole counter state, never a particular entry, so no
    /// answer is about an entry. A 400 (a type clash with another group, an inconsistent store)
    /// and every other 4xx mean the setup needs a person: misconfigured. 408, 429 and 5xx are
    /// transient.
    package static let pushgateway = ResponseTable(
        statuses: [408: .retry, 429: .retry],
        clientError: .misconfigured
    )
}
