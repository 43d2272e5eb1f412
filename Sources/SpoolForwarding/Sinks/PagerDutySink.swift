import Spool

/// PagerDuty Events API v2 (`POST /v2/enqueue`), per protocols.md §3: entries at or above a
/// level become `trigger` events, one event per request.
///
/// - Eligibility: entries below ``Configuration/minimumLevel`` are never sent; a batch with
///   none at or above it encodes to nil, which the scheduler acknowledges as delivered.
/// - One event per request: ``maximumEntriesPerRequest`` is 1, so the scheduler sends batches
///   of one. A batch with more than one eligible entry is refused with an error, which makes
///   the scheduler split it down to single entries, so nothing is lost even then.
/// - `summary` is the message (the topic when the message is empty), at most 1024 characters,
///   cut with `…`. `severity`: critical → critical, error → error, warning and notice →
///   warning, info, debug and trace → info. `timestamp` is the entry's time in ISO 8601.
///   `custom_details` is the context plus `topic` and `level` (those two win over context
///   keys of the same name).
/// - `dedup_key` is `spool-` and the FNV-1a 64-bit hash of topic, NUL and message in hex: the
///   same error repeated or resent lands on one open incident.
/// - Not compressed (PagerDuty does not document gzip). Rate limiting per routing key is the
///   scheduler's job.
///
/// ```swift
/// let sink = try PagerDutySink(configuration: .init(routingKey: key, component: "billing"))
/// ```
package struct PagerDutySink: SinkProtocol {
    /// The configuration, as given.
    package let configuration: Configuration

    /// PagerDuty's limits: the summary in characters, the whole request in bytes.
    static let maximumSummaryCharacters = 1024
    static let maximumRequestBytes = 512 * 1024

    /// Creates the sink.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidArgument`` when the routing
    ///   key is empty or the URL is not http(s). The key itself is never in the message.
    package init(configuration: Configuration) throws(SpoolError) {
        guard !configuration.routingKey.isEmpty else {
            throw SpoolError(.invalidArgument, "PagerDuty sink: the routing key is empty")
        }
        guard configuration.url.hasPrefix("http://") || configuration.url.hasPrefix("https://") else {
            throw SpoolError(.invalidArgument, "PagerDuty sink: the URL must start with http:// or https://")
        }
        self.configuration = configuration
    }

    package var kind: String { "pagerduty" }

    /// PagerDuty takes one event per request.
    package var maximumEntriesPerRequest: Int? { 1 }

    /// The batch's one eligible entry as a `trigger` event, or nil when it has none.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidArgument`` when more than
    ///   one entry is eligible (the scheduler then splits the batch).
    package func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        let eligible = entries.filter { $0.level >= configuration.minimumLevel }
        guard let entry = eligible.first else { return nil }
        guard eligible.count == 1 else {
            throw SpoolError(.invalidArgument, "PagerDuty takes one event per request, and this batch has \(eligible.count) entries at or above \(configuration.minimumLevel.rawValue); send batches of at most maximumEntriesPerRequest (1)")
        }
        let decoded = entry.entry
        var body = event(entry, details: decoded.context ?? [:])
        // Over PagerDuty's 512 KB: keep the event, cut the context (halving until it fits,
        // since escaping can make JSON text longer than the text it holds).
        var budget = Self.maximumRequestBytes / 2
        while body.count > Self.maximumRequestBytes, budget >= 64 {
            let context = decoded.context.map(JSON.string) ?? ""
            body = event(entry, details: [
                "_truncated": .string(PreparedRow.truncated(context, to: budget)),
                "_original_bytes": .int(Int64(context.utf8.count)),
            ])
            budget /= 2
        }
        return SinkRequest(
            url: configuration.url,
            headers: [SinkRequest.Header("Content-Type", "application/json")],
            body: body,
            allowsGzip: false,
            secrets: [configuration.routingKey]
        )
    }

    /// The general rule (202 delivered, 429 and 5xx retried, 400 rejected), except that a 400
    /// blaming the routing key is ``Verdict/misconfigured(reason:)``: a wrong key would
    /// otherwise dead-letter every alert.
    package func classify(_ response: SinkResponse) -> Verdict {
        let verdict = Verdict.standard(response)
        if case .rejected(let reason) = verdict, response.status == 400 {
            let text = response.excerpt(limit: 4096).lowercased()
            if text.contains("routing key") || text.contains("routing_key") {
                return .misconfigured(reason: reason)
            }
        }
        return verdict
    }

    // MARK: - Event

    /// The event's JSON bytes.
    private func event(_ entry: StoredEntry, details context: [String: JSONValue]) -> [UInt8] {
        var details = context
        details["topic"] = .string(entry.topic)
        details["level"] = .string(entry.level.rawValue)
        var payload: [String: JSONValue] = [
            "summary": .string(Self.summary(entry.message.isEmpty ? entry.topic : entry.message)),
            "source": .string(configuration.source),
            "severity": .string(Self.severity(entry.level)),
            "timestamp": .string(UnixTime.iso8601(nanoseconds: entry.timestamp)),
            "custom_details": .object(details),
        ]
        if let component = configuration.component { payload["component"] = .string(component) }
        if let group = configuration.group { payload["group"] = .string(group) }
        if let eventClass = configuration.eventClass { payload["class"] = .string(eventClass) }
        return JSON.bytes([
            "routing_key": .string(configuration.routingKey),
            "event_action": "trigger",
            "dedup_key": .string(Self.dedupKey(topic: entry.topic, message: entry.message)),
            "payload": .object(payload),
            "client": "spool",
        ])
    }

    /// PagerDuty's severity for a swift-log level.
    package static func severity(_ level: LogLevel) -> String {
        switch level {
        case .critical: "critical"
        case .error: "error"
        case .warning, .notice: "warning"
        case .info, .debug, .trace: "info"
        }
    }

    /// `spool-` and the FNV-1a 64 hash of `topic`, NUL, `message`, as 16 hex digits.
    package static func dedupKey(topic: String, message: String) -> String {
        var hash = FNV1a64()
        hash.update(topic.utf8)
        hash.update(CollectionOfOne(0))
        hash.update(message.utf8)
        return "spool-" + hash.hex
    }

    /// `text` within 1024 characters (Unicode scalars, never splitting a character), with `…`
    /// in place of what was cut.
    static func summary(_ text: String) -> String {
        let limit = maximumSummaryCharacters
        guard text.unicodeScalars.count > limit else { return text }
        var output = ""
        var scalars = 0
        for character in text {
            let count = character.unicodeScalars.count
            if scalars + count > limit - 1 { break }
            output.append(character)
            scalars += count
        }
        return output + "…"
    }
}

/// FNV-1a, 64-bit (Fowler–Noll–Vo): a small, stable, non-cryptographic hash. Stable across
/// processes and versions, unlike `Hasher`, which is what a `dedup_key` needs.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func update(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
    }

    /// 16 lowercase hex digits.
    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
