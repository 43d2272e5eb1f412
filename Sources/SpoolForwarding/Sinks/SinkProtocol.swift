import Spool

/// A destination's wire protocol: how a batch becomes one HTTP request, and what the
/// destination's answer means.
///
/// Sinks only describe. The one transport sends (timeouts, gzip, auth headers, the concurrency
/// limit), and the one scheduler acts on the ``Verdict``: acknowledge, retry with backoff, split,
/// dead-letter or pause. No sink sends, retries or batches by itself.
///
/// ```swift
/// struct EchoSink: SinkProtocol {
///     var kind: String { "echo" }
///     func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
///         SinkRequest(url: "http://127.0.0.1:9000/", body: Array(entries.map(EntryJSON.line).joined(separator: "\n").utf8))
///     }
///     func classify(_ response: SinkResponse) -> Verdict { Verdict.standard(response) }
/// }
/// ```
package protocol SinkProtocol: Sendable {
    /// The kind of destination (`loki`, `http`, `otlp`…): the default sink name and a metrics label.
    var kind: String { get }

    /// The most entries one request may carry, or nil when only the scheduler's batch limits
    /// apply. PagerDuty takes one event per request, so its sink says 1; the scheduler claims
    /// batches of at most `min(configured batch size, maximumEntriesPerRequest)`.
    var maximumEntriesPerRequest: Int? { get }

    /// Encodes a non-empty batch, in id order, as one request.
    ///
    /// Returns nil when none of these entries is for this destination (PagerDuty's entries
    /// below its minimum level): nothing is sent and the scheduler acknowledges the batch as
    /// delivered. A request that carries only some of the entries (the others filtered out)
    /// acknowledges all of them when it succeeds.
    /// - Throws: ``SpoolError`` when the batch cannot be encoded at all (the scheduler then
    ///   isolates the offending entries by splitting, as for a rejection).
    func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest?

    /// What a response means, by this protocol's table.
    func classify(_ response: SinkResponse) -> Verdict
}

extension SinkProtocol {
    /// No limit of the protocol's own: the scheduler's batch limits apply.
    package var maximumEntriesPerRequest: Int? { nil }
}

/// One HTTP request, as a sink wants it sent.
package struct SinkRequest: Sendable, Hashable {
    /// An HTTP header. Values of credential headers never appear in logs or errors.
    package struct Header: Sendable, Hashable {
        package var name: String
        package var value: String
        package init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    package var method: String
    /// The full URL, e.g. `http://127.0.0.1:3100/loki/api/v1/push`.
    package var url: String
    package var headers: [Header]
    package var body: [UInt8]
    /// Whether the protocol accepts a gzip body (`Content-Encoding: gzip`); the transport decides
    /// by size whether to use it.
    package var allowsGzip: Bool
    /// Secrets the body carries (PagerDuty's routing key): like a credential header's value,
    /// none may come back from the answer into a dead letter's reason, a report or an error
    /// (a server that echoes the request replies with them), so the transport replaces them.
    package var secrets: Secrets

    package init(method: String = "POST", url: String, headers: [Header] = [], body: [UInt8], allowsGzip: Bool = true, secrets: [String] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.allowsGzip = allowsGzip
        self.secrets = Secrets(secrets)
    }

    /// Values never to be shown: printing, dumping or reflecting a request shows `<redacted>`.
    package struct Secrets: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        package var values: [String]
        package init(_ values: [String]) { self.values = values }
        package var description: String { values.isEmpty ? "none" : "<redacted>" }
        package var debugDescription: String { description }
        package var customMirror: Mirror { Mirror(self, children: []) }
    }
}

/// What came back: the status, the headers, and a bounded prefix of the body.
package struct SinkResponse: Sendable, Hashable {
    package var status: Int
    package var headers: [SinkRequest.Header]
    /// At most ``maximumBodyBytes`` of the body: responses are read with a bound.
    package var body: [UInt8]
    /// When the response arrived, by the transport's (injected) clock. A `Retry-After` date is
    /// measured from the response's `Date` header, or from this instant when there is none;
    /// with neither, a date-form `Retry-After` is ignored and the scheduler's backoff applies.
    package var receivedAt: UnixInstant?

    /// Bodies are read up to this size; the rest is discarded.
    package static let maximumBodyBytes = 64 * 1024

    package init(status: Int, headers: [SinkRequest.Header] = [], body: [UInt8] = [], receivedAt: UnixInstant? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.receivedAt = receivedAt
    }

    /// The first header of that name, case-insensitively.
    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as text, cut to `limit` bytes: what a dead letter keeps as its reason.
    package func excerpt(limit: Int = 1024) -> String {
        String(decoding: body.prefix(limit), as: UTF8.self)
    }
}

/// The meaning of a response, which the scheduler turns into an action.
package enum Verdict: Sendable, Hashable {
    /// Accepted: acknowledge the batch (the entries leave the spool once every sink has them).
    case delivered
    /// Accepted, except `rejected` records the destination dropped (OTLP `partialSuccess`):
    /// acknowledge, count the rejected ones and report `reason`; never retried.
    case partiallyDelivered(rejected: Int, reason: String)
    /// Transient (429, 5xx, …): keep the batch and send it again after a backoff, or after
    /// `after` when the destination said so (Retry-After).
    case retry(after: Duration?, reason: String)
    /// Too large (413): split the batch in halves, down to single entries.
    case tooLarge(reason: String)
    /// Rejected for good (400, 422): split to isolate the offending entries; a single entry
    /// that is still rejected goes to the dead-letter table with `reason`.
    case rejected(reason: String)
    /// The sink is misconfigured (401, 403, 404: a wrong key, tenant or URL): keep everything,
    /// pause the sink with a long backoff and report loudly. Never dead-letters a backlog.
    case misconfigured(reason: String)
}

extension ArraySlice<StoredEntry> {
    /// A guess at a batch's JSON size, generous enough that a body is written in one allocation:
    /// the text of each entry plus room for its framing and some escaping.
    var estimatedJSONBytes: Int {
        var total = 256
        for entry in self {
            total += entry.messageByteCount + entry.topicByteCount + entry.contextByteCount + 160
        }
        return total + total / 8
    }
}
