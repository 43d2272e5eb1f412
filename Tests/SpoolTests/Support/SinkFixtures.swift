import Testing
@testable import Spool
@testable import SpoolForwarding

/// Entries and helpers shared by the sink tests. Golden payloads are JSON text written by
/// hand in each test and compared after parsing, so key order does not matter.
enum SinkFixtures {
    /// 2024-11-29T09:40:00Z in nanoseconds.
    static let t0: Int64 = 1_732_873_200_000_000_000

    static func entry(
        id: Int64 = 1, at timestamp: Int64 = t0, _ level: LogLevel = .error, topic: String = "billing.payment",
        _ message: String = "payment declined", context: String? = nil
    ) -> StoredEntry {
        StoredEntry(id: id, timestamp: timestamp, level: level, topic: topic, message: message, contextJSON: context, schema: LogEntry.currentSchema)
    }

    static func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: text) }

    static func body(_ request: SinkRequest?) throws -> JSONValue {
        let request = try #require(request)
        return try JSONValue(parsing: String(decoding: request.body, as: UTF8.self))
    }

    static func header(_ request: SinkRequest, _ name: String) -> String? {
        request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The verdict's case name, for table-driven comparisons.
    static func name(_ verdict: Verdict) -> String {
        switch verdict {
        case .delivered: "delivered"
        case .partiallyDelivered: "partial"
        case .retry: "retry"
        case .tooLarge: "tooLarge"
        case .rejected: "rejected"
        case .misconfigured: "misconfigured"
        }
    }
}
