#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Spool

extension PagerDutySink {
    /// PagerDuty's per-routing-key limit: 100 events a minute, in bursts of at most 20. The
    /// default ``SinkScheduler/Configuration/rateLimit`` of a PagerDuty sink from
    /// `spool forward` options and from a configuration file.
    package static let defaultRateLimit: (perSecond: Double, burst: Double) = (perSecond: 100.0 / 60, burst: 20)

    /// Which entries page, and how their events are labelled. The routing key is a secret:
    /// ``description``, ``debugDescription`` and the mirror (`dump`) never show it.
    ///
    /// ```swift
    /// let key = try String(contentsOfFile: "/run/secrets/pagerduty", encoding: .utf8)  // or an env var
    /// var configuration = PagerDutySink.Configuration(routingKey: key)
    /// configuration.component = "billing"
    /// let sink = try PagerDutySink(configuration: configuration)
    /// ```
    package struct Configuration: Sendable, Hashable {
        /// The Events v2 integration key, as the caller read it from an environment variable
        /// or a file (the sink never reads either). Never printed. No default.
        package var routingKey: String
        /// The Events v2 endpoint. Default: `https://events.pagerduty.com/v2/enqueue`;
        /// configurable for tests and proxies.
        package var url: String
        /// Entries at or above this level trigger an event; the others are acknowledged
        /// without sending. Default: ``LogLevel/error``.
        package var minimumLevel: LogLevel
        /// `payload.source`, the affected host or resource. Default: this machine's host name.
        package var source: String
        /// `payload.component`, the affected part. Default: none.
        package var component: String?
        /// `payload.group`, the cluster or service group. Default: none.
        package var group: String?
        /// `payload.class`, the type of event. Default: none.
        package var eventClass: String?

        /// The default endpoint.
        package static let defaultURL = "https://events.pagerduty.com/v2/enqueue"

        /// Creates a configuration; see each property for its default.
        package init(
            routingKey: String,
            url: String = Configuration.defaultURL,
            minimumLevel: LogLevel = .error,
            source: String? = nil,
            component: String? = nil,
            group: String? = nil,
            eventClass: String? = nil
        ) {
            self.routingKey = routingKey
            self.url = url
            self.minimumLevel = minimumLevel
            self.source = source ?? Self.hostName()
            self.component = component
            self.group = group
            self.eventClass = eventClass
        }

        static func hostName() -> String {
            var buffer = [CChar](repeating: 0, count: 256)
            guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
            let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return name.isEmpty ? "localhost" : name
        }
    }
}

// MARK: - Never print the key

extension PagerDutySink.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration with the routing key shown as `<redacted>`.
    package var description: String {
        var text = "PagerDutySink.Configuration(url: \(url), routingKey: <redacted>, minimumLevel: \(minimumLevel.rawValue), source: \(source)"
        if let component { text += ", component: \(component)" }
        if let group { text += ", group: \(group)" }
        if let eventClass { text += ", eventClass: \(eventClass)" }
        return text + ")"
    }

    /// As ``description``: the routing key is redacted.
    package var debugDescription: String { description }

    /// A mirror without the routing key, so that `dump` and debuggers do not show it.
    package var customMirror: Mirror {
        Mirror(self, children: [
            "url": url, "routingKey": "<redacted>", "minimumLevel": minimumLevel, "source": source,
            "component": component as Any, "group": group as Any, "eventClass": eventClass as Any,
        ], displayStyle: .struct)
    }
}

extension PagerDutySink: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The sink, with its routing key redacted.
    package var description: String { "PagerDutySink(\(configuration))" }
    /// As ``description``.
    package var debugDescription: String { description }
    /// A mirror whose only child is the redacted configuration.
    package var customMirror: Mirror { Mirror(self, children: ["configuration": configuration], displayStyle: .struct) }
}
