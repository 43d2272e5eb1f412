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
                body.append(position == 0 ? "[\"" : ",[\"")
                body.writeInt(entries[index].timestamp)
                body.append("\",")
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
        case .message where configuration.topic != .line && entry.message.utf8.count <= limit:
            output.writeString(entry.message)
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

    // MARK: - Structured metadata

    /// The entry's structured metadata as a JSON object of strings, or nil when it has none.
    /// Names are sanitized like labels; the topic comes first and wins over a context key of
    /// the same name; past Loki's limits (128 entries, 64 KiB) further keys are left out.
    ///
    /// Appends `,` and the object, or nothing when the entry has none.
    func writeStructuredMetadata(for entry: StoredEntry, to output: inout JSONWriter) {
        var scratch = MetadataScratch()
        writeStructuredMetadata(for: entry, to: &output, scratch: &scratch)
    }

    func writeStructuredMetadata(for entry: StoredEntry, to output: inout JSONWriter, scratch: inout MetadataScratch) {
        if contextGoesInMetadata(entry) {
            if !writeContextMetadata(for: entry, to: &output, scratch: &scratch), let metadata = metadataObject(for: entry) {
                output.append(byte: UInt8(ascii: ","))
                output.writeObject(metadata)
            }
            return
        }
        // The common case, written directly: no dictionary per entry (9% of a drain's profile).
        guard configuration.topic == .structuredMetadata,
              entry.topic.utf8.count + 5 <= Self.maximumMetadataBytes else { return }
        output.append(",{\"topic\":")
        output.writeString(entry.topic)
        output.append(byte: UInt8(ascii: "}"))
    }

    /// Reused between the entries of a batch: the metadata members found so far, and their
    /// values already written as JSON strings.
    struct MetadataScratch {
        struct Member {
            var key: String
            var name: String
            var value: Range<Int>
        }
        var members: [Member] = []
        var found: [(key: String, value: Range<Int>, size: Int)] = []
        var values = JSONWriter()
    }

    /// The metadata of an entry whose context goes into it, written straight from the stored
    /// context text: the same object ``metadataObject(for:)`` makes (same names, same order,
    /// same limits), without decoding the context into `JSONValue`s. String values with no
    /// escape are copied as they are. Returns false, having written nothing, when the stored
    /// context is not a JSON object with distinct keys (only possible when someone edited the
    /// file by hand): ``metadataObject(for:)`` handles that.
    private func writeContextMetadata(for entry: StoredEntry, to output: inout JSONWriter, scratch: inout MetadataScratch) -> Bool {
        guard var context = entry.contextJSON else { return false }
        scratch.members.removeAll(keepingCapacity: true)
        scratch.values.bytes.removeAll(keepingCapacity: true)
        scratch.found.removeAll(keepingCapacity: true)
        // The context's members, in document order; values written as JSON strings, sizes kept.
        let scanned = context.withUTF8 { bytes -> Bool in
            var parser = JSONParser(bytes: bytes)
            do {
                try parser.scanObject { key, value in
                    let start = scratch.values.count
                    let size: Int
                    switch value {
                    case .plainString(let text):
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.append(raw: text)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = text.count
                    case .decoded(.string(let text)):
                        scratch.values.writeString(text)
                        size = text.utf8.count
                    case .decoded(.int(let number)):
                        // What `description` spells, written without making it.
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.writeInt(number)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = scratch.values.count - start - 2
                    case .decoded(.double(let number)) where number.isFinite:
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.writeDouble(number)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = scratch.values.count - start - 2
                    case .decoded(let other):
                        let text = other.description
                        scratch.values.writeString(text)
                        size = text.utf8.count
                    }
                    scratch.found.append((key, start..<scratch.values.count, size))
                }
                return true
            } catch {
                return false
            }
        }
        guard scanned else { return false }
        scratch.found.sort { $0.key < $1.key }
        for index in scratch.found.indices.dropFirst() where scratch.found[index].key == scratch.found[index - 1].key { return false }

        var bytes = 0
        func add(key: String, name: String, value: Range<Int>, size: Int) {
            let size = name.utf8.count + size
            guard !scratch.members.contains(where: { $0.name == name }), scratch.members.count < Self.maximumMetadataEntries,
                  bytes + size <= Self.maximumMetadataBytes
            else { return }
            scratch.members.append(.init(key: key, name: name, value: value))
            bytes += size
        }
        if configuration.topic == .structuredMetadata {
            let start = scratch.values.count
            scratch.values.writeString(entry.topic)
            add(key: "topic", name: "topic", value: start..<scratch.values.count, size: entry.topic.utf8.count)
        }
        for member in scratch.found {
            add(key: member.key, name: Self.labelName(member.key), value: member.value, size: member.size)
        }
        guard !scratch.members.isEmpty else { return true }
        scratch.members.sort { $0.name < $1.name }
        output.append(",{")
        for (index, member) in scratch.members.enumerated() {
            if index > 0 { output.append(byte: UInt8(ascii: ",")) }
            output.writeString(member.name)
            output.append(byte: UInt8(ascii: ":"))
            scratch.values.bytes.withUnsafeBufferPointer { output.append(raw: UnsafeBufferPointer(rebasing: $0[member.value])) }
        }
        output.append(byte: UInt8(ascii: "}"))
        return true
    }

    private func contextGoesInMetadata(_ entry: StoredEntry) -> Bool {
        configuration.line == .message && configuration.contextInStructuredMetadata
            && entry.contextJSON != nil && entry.contextJSON != "{}"
    }

    /// Structured metadata with the context's keys: a dictionary, since names are sanitized
    /// and limits apply. Nil when nothing fits.
    func metadataObject(for entry: StoredEntry) -> [String: JSONValue]? {
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
        return metadata.isEmpty ? nil : metadata
    }
}
