/// Grafana Loki's push API (`POST /loki/api/v1/push`, JSON), per protocols.md §1.
///
/// Entries are grouped into streams by their label set: the static labels, `level`, and
/// `topic` when ``Configuration/TopicPlacement/label`` is chosen. Streams appear in the order
/// of their first entry, entries in id order; timestamps are nanosecond decimal strings. The
/// topic and (with message lines) the context go into structured metadata by default, because
/// labels with many values hurt Loki.
///
/// ```swift
/// let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:3100", labels: ["service": "billing"]))
/// ```
///
/// Basic or bearer credentials are added by the transport from the forwarder's configuration,
/// never by the sink: they are not part of any ``SinkRequest`` it makes.
public struct LokiSink: SinkProtocol {
    /// The configuration, as given.
    public let configuration: Configuration
    /// The push URL.
    let url: String
    /// The static labels, sanitized.
    let labels: [String: String]

    /// Creates the sink, checking the configuration once.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidArgument`` for a URL that is
    ///   not http(s), too many labels, two labels that sanitize to one name, a label named
    ///   `level` (or `topic` when the topic is a label), an empty or over-long label value, a
    ///   line limit under 1024 bytes, or a control character in the tenant.
    public init(configuration: Configuration) throws(SpoolError) {
        self.configuration = configuration
        (url, labels) = try Self.validate(configuration)
    }

    public var kind: String { "loki" }

    /// One stream of the request being built.
    private struct StreamKey: Hashable {
        var level: LogLevel
        var topic: String?
    }

    /// The batch as one push request, streams grouped by label set.
    public func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        var order: [StreamKey] = []
        var values: [StreamKey: String] = [:]
        for entry in entries {
            let key = StreamKey(level: entry.level, topic: configuration.topic == .label ? entry.topic : nil)
            var value = ""
            if values[key] == nil {
                order.append(key)
            } else {
                value = ","
            }
            value += "[\""
            value += UnixTime.decimalString(nanoseconds: entry.timestamp)
            value += "\","
            JSON.writeString(line(for: entry), to: &value)
            if let metadata = structuredMetadata(for: entry) {
                value += ","
                value += metadata
            }
            value += "]"
            values[key, default: ""] += value
        }
        var body = "{\"streams\":["
        for (index, key) in order.enumerated() {
            if index > 0 { body += "," }
            var streamLabels = labels.mapValues(JSONValue.string)
            streamLabels["level"] = .string(key.level.rawValue)
            if let topic = key.topic {
                streamLabels["topic"] = .string(PreparedRow.truncated(topic, to: Self.maximumLabelValueBytes))
            }
            body += "{\"stream\":"
            JSON.writeObject(streamLabels, to: &body)
            body += ",\"values\":["
            body += values[key]!
            body += "]}"
        }
        body += "]}"
        var headers = [SinkRequest.Header("Content-Type", "application/json")]
        if let tenant = configuration.tenant, !tenant.isEmpty {
            headers.append(SinkRequest.Header("X-Scope-OrgID", tenant))
        }
        return SinkRequest(url: url, headers: headers, body: Array(body.utf8), allowsGzip: true)
    }

    /// The general rule: 2xx delivered; 429 and 5xx retried; 400 rejected (Loki has already
    /// stored the valid entries of that request, and de-duplicates identical ones when the
    /// scheduler resends them after splitting); 413 split; 401/403/404 pause.
    public func classify(_ response: SinkResponse) -> Verdict {
        Verdict.standard(response)
    }

    // MARK: - Lines

    /// The entry's line, within ``Configuration/maximumLineBytes``.
    func line(for entry: StoredEntry) -> String {
        let limit = configuration.maximumLineBytes
        switch configuration.line {
        case .message:
            let text = configuration.topic == .line ? "[\(entry.topic)] \(entry.message)" : entry.message
            return PreparedRow.truncated(text, to: limit)
        case .json:
            let full = jsonLine(entry, message: entry.message, context: entry.contextJSON)
            if full.utf8.count <= limit { return full }
            // Cut the message and the context, not the JSON: halve their share until the
            // escaped result fits (escaping can grow text up to six times).
            var budget = limit / 2
            while true {
                let context = entry.contextJSON.map { json -> String in
                    json.utf8.count <= budget / 2 ? json : JSON.string([
                        "_truncated": .string(PreparedRow.truncated(json, to: budget / 2)),
                        "_original_bytes": .int(Int64(json.utf8.count)),
                    ])
                }
                let line = jsonLine(entry, message: PreparedRow.truncated(entry.message, to: budget), context: context)
                if line.utf8.count <= limit || budget < 64 { return line }
                budget /= 2
            }
        }
    }

    /// `{"context":…,"message":…,"schema":…,"topic":…}`, keys sorted as ``JSON`` writes them;
    /// the stored context text is copied as it is.
    private func jsonLine(_ entry: StoredEntry, message: String, context: String?) -> String {
        var output = "{"
        if let context {
            output += "\"context\":"
            output += context
            output += ","
        }
        output += "\"message\":"
        JSON.writeString(message, to: &output)
        output += ",\"schema\":"
        JSON.writeString(entry.schema, to: &output)
        output += ",\"topic\":"
        JSON.writeString(entry.topic, to: &output)
        output += "}"
        return output
    }

    // MARK: - Structured metadata

    /// The entry's structured metadata as a JSON object of strings, or nil when it has none.
    /// Names are sanitized like labels; the topic comes first and wins over a context key of
    /// the same name; past Loki's limits (128 entries, 64 KiB) further keys are left out.
    func structuredMetadata(for entry: StoredEntry) -> String? {
        let contextGoesInMetadata = configuration.line == .message && configuration.contextInStructuredMetadata
            && entry.contextJSON != nil && entry.contextJSON != "{}"
        if !contextGoesInMetadata {
            // The common case, written directly: no dictionary per entry (9% of a drain's profile).
            guard configuration.topic == .structuredMetadata,
                  entry.topic.utf8.count + 5 <= Self.maximumMetadataBytes else { return nil }
            var output = "{\"topic\":"
            JSON.writeString(entry.topic, to: &output)
            output += "}"
            return output
        }
        var metadata: [String: JSONValue] = [:]
        var bytes = 0
        func add(_ name: String, _ value: String) {
            let key = Self.labelName(name)
            let size = key.utf8.count + value.utf8.count
            guard metadata[key] == nil, metadata.count < Self.maximumMetadataEntries,
                  bytes + size <= Self.maximumMetadataBytes
            else { return }
            metadata[key] = .string(value)
            bytes += size
        }
        if configuration.topic == .structuredMetadata { add("topic", entry.topic) }
        if configuration.line == .message, configuration.contextInStructuredMetadata,
           let contextJSON = entry.contextJSON, contextJSON != "{}"
        {
            let context = entry.entry.context ?? [:]
            for key in context.keys.sorted() {
                switch context[key]! {
                case .string(let text): add(key, text)
                case let other: add(key, other.description)
                }
            }
        }
        return metadata.isEmpty ? nil : JSON.string(metadata)
    }
}
