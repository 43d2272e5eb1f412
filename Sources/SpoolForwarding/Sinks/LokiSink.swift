import Spool

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
package struct LokiSink: SinkProtocol {
    /// The configuration, as given.
    package let configuration: Configuration
    /// The push URL.
    let url: String
    /// The static labels, sanitized.
    let labels: [String: String]

    /// Creates the sink, checking the configuration once.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidArgument`` for a URL that is
    ///   not http(s), too many labels, two labels that sanitize to one name, a label named
    ///   `level` (or `topic` when the topic is a label), an empty or over-long label value, a
    ///   line limit under 1024 bytes, or a control character in the tenant.
    package init(configuration: Configuration) throws(SpoolError) {
        self.configuration = configuration
        (url, labels) = try Self.validate(configuration)
    }

    package var kind: String { "loki" }

    /// One stream of the request being built.
    private struct StreamKey: Hashable {
        var level: LogLevel
        var topic: String?
    }

    /// The batch as one push request, streams grouped by label set, written as bytes in one
    /// pass per stream: no `String` per entry.
    package func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        // Read through the slice's buffer, not its subscript: `spool bench encode` 1.06–1.12 →
        // 0.96–1.03 CPU s per million Loki entries (BENCHMARKS.md, "Session 11").
        let capacity = entries.estimatedJSONBytes
        return entries.withUnsafeBufferPointer { encode($0, capacity: capacity) }
    }

    private func encode(_ entries: UnsafeBufferPointer<StoredEntry>, capacity: Int) -> SinkRequest {
        // Which stream each entry joins, streams in the order of their first entry.
        var order: [StreamKey] = []
        var members: [[Int]] = []
        var streamIndex: [StreamKey: Int] = [:]
        for index in entries.indices {
            let key = StreamKey(level: entries[index].level, topic: configuration.topic == .label ? entries[index].topic : nil)
            if let stream = streamIndex[key] {
                members[stream].append(index)
            } else {
                streamIndex[key] = order.count
                order.append(key)
                members.append([index])
            }
        }
        var body = JSONWriter(capacity: capacity)
        var scratch = JSONWriter()
        var metadata = MetadataScratch()
        body.append("{\"streams\":[")
        for (stream, key) in order.enumerated() {
            if stream > 0 { body.append(byte: UInt8(ascii: ",")) }
            var streamLabels = labels.mapValues(JSONValue.string)
            streamLabels["level"] = .string(key.level.rawValue)
            if let topic = key.topic {
                streamLabels["topic"] = .string(PreparedRow.truncated(topic, to: Self.maximumLabelValueBytes))
            }
            body.append("{\"stream\":")
            body.writeObject(streamLabels)
            body.append(",\"values\":[")
            for (position, index) in members[stream].enumerated() {
                body.writeInt(entries[index].timestamp, prefix: position == 0 ? "[\"" : ",[\"", suffix: "\",")
                writeLine(for: entries[index], to: &body, scratch: &scratch)
                writeStructuredMetadata(for: entries[index], to: &body, scratch: &metadata)
                body.append(byte: UInt8(ascii: "]"))
            }
            body.append("]}")
        }
        body.append("]}")
        var headers = [SinkRequest.Header("Content-Type", "application/json")]
        if let tenant = configuration.tenant, !tenant.isEmpty {
            headers.append(SinkRequest.Header("X-Scope-OrgID", tenant))
        }
        return SinkRequest(url: url, headers: headers, body: body.bytes, allowsGzip: true)
    }

    /// The general rule: 2xx delivered; 429 and 5xx retried; 400 rejected (Loki has already
    /// stored the valid entries of that request, and de-duplicates identical ones when the
    /// scheduler resends them after splitting); 413 split; 401/403/404 pause.
    package func classify(_ response: SinkResponse) -> Verdict {
        Verdict.standard(response)
    }

    // MARK: - Lines

    /// Appends the entry's line as a JSON string. The common cases (a message within the
    /// limit, a JSON line within the limit) are escaped straight into `output`; only a line
    /// that must be cut goes through ``line(for:)``.
    func writeLine(for entry: StoredEntry, to output: inout JSONWriter, scratch: inout JSONWriter) {
        let limit = configuration.maximumLineBytes
        switch configuration.line {
        case .message where configuration.topic != .line && entry.messageByteCount <= limit:
            entry.withMessageUTF8 { output.writeString(utf8: $0) }
        case .json:
            scratch.bytes.removeAll(keepingCapacity: true)
            Self.writeJSONLine(entry, message: entry.message, context: entry.contextJSON, to: &scratch)
            if scratch.count <= limit {
                scratch.bytes.withUnsafeBufferPointer { output.writeString(utf8: $0) }
            } else {
                output.writeString(line(for: entry))
            }
        default:
            output.writeString(line(for: entry))
        }
    }

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

    private func jsonLine(_ entry: StoredEntry, message: String, context: String?) -> String {
        var writer = JSONWriter(capacity: message.utf8.count + (context?.utf8.count ?? 0) + 80)
        Self.writeJSONLine(entry, message: message, context: context, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// `{"context":…,"message":…,"schema":…,"topic":…}`, keys sorted as ``JSONWriter`` writes
    /// them; the stored context text is copied as it is.
    private static func writeJSONLine(_ entry: StoredEntry, message: String, context: String?, to output: inout JSONWriter) {
        output.append(byte: UInt8(ascii: "{"))
        if let context {
            output.append("\"context\":")
            output.append(raw: context)
            output.append(byte: UInt8(ascii: ","))
        }
        output.append("\"message\":")
        output.writeString(message)
        output.append(",\"schema\":")
        output.writeString(entry.schema)
        output.append(",\"topic\":")
        output.writeString(entry.topic)
        output.append(byte: UInt8(ascii: "}"))
    }
}
