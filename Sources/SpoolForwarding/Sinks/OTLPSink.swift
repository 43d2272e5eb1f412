import Spool

/// OpenTelemetry logs over OTLP/HTTP in the JSON encoding (`POST <base>/v1/logs`), per
/// protocols.md §4.
///
/// A batch is one `ExportLogsServiceRequest`: one resource (`service.name` plus the configured
/// attributes), one scope (`spool` and its version), one log record per entry in id order.
///
/// Mapping decisions:
/// - `severityNumber`: trace 1 (TRACE), debug 5 (DEBUG), info 9 (INFO), notice 10 (INFO2: above
///   info, below warning, as swift-log places it), warning 13 (WARN), error 17 (ERROR),
///   critical 21 (FATAL). `severityText` keeps swift-log's spelling (`notice`, `critical`).
/// - `timeUnixNano` and `observedTimeUnixNano` are both the entry's timestamp: Spool is the
///   logging library that observed the event, which is the case where the OTel data model
///   sets both to the generation time. It also keeps a resent batch byte-identical.
/// - The message is the body (`stringValue`). The context's keys become attributes; nested
///   objects stay nested as `kvlistValue` (the log data model allows any `AnyValue`), which
///   loses nothing, where flattening to dotted keys would make `{"a.b":1}` and
///   `{"a":{"b":1}}` collide. Arrays become `arrayValue`, integers `intValue` strings, JSON
///   null an empty `AnyValue`.
/// - `trace_id`/`traceId` (32 hex digits) and `span_id`/`spanId` (16) become the record's
///   `traceId`/`spanId`, lowercased, when valid and not all zeros; otherwise they stay
///   attributes. `trace_flags`/`traceFlags` (an integer 0–255 or two hex digits) become
///   `flags`; a bare `flags` key is too generic to claim and stays an attribute.
/// - Two attributes of Spool's own: `spool.topic` and `spool.entry_id` (the spool id, for
///   de-duplicating the at-least-once resends). They win over context keys of the same name.
package struct OTLPSink: SinkProtocol {
    /// The resource and scope every record is sent under, and where to.
    package struct Configuration: Sendable, Hashable {
        /// The collector's base URL, e.g. `http://127.0.0.1:4318`; `/v1/logs` is appended
        /// unless the URL already ends with it (Loki's native OTLP path is
        /// `http://loki:3100/otlp/v1/logs`). No default.
        package var url: String
        /// The resource's `service.name`. Default: `unknown_service`, the OTel fallback.
        package var serviceName: String
        /// More resource attributes (`host.name`, `deployment.environment`…); a
        /// `service.name` here is ignored in favour of ``serviceName``. Default: none.
        package var resourceAttributes: [String: JSONValue]
        /// The instrumentation scope's name. Default: `spool`.
        package var scopeName: String
        /// The instrumentation scope's version. Default: this Spool's version.
        package var scopeVersion: String

        /// Creates a configuration; see each property for its default.
        package init(
            url: String,
            serviceName: String = "unknown_service",
            resourceAttributes: [String: JSONValue] = [:],
            scopeName: String = "spool",
            scopeVersion: String = OTLPSink.spoolVersion
        ) {
            self.url = url
            self.serviceName = serviceName
            self.resourceAttributes = resourceAttributes
            self.scopeName = scopeName
            self.scopeVersion = scopeVersion
        }
    }

    /// The version reported as the scope's version by default.
    package static let spoolVersion = "0.1.0"

    /// The configuration, as given.
    package let configuration: Configuration
    /// `<base>/v1/logs`.
    let url: String

    /// Creates the sink.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidArgument`` when the URL is
    ///   not http(s).
    package init(configuration: Configuration) throws(SpoolError) {
        guard configuration.url.hasPrefix("http://") || configuration.url.hasPrefix("https://") else {
            throw SpoolError(.invalidArgument, "OTLP sink: the URL must start with http:// or https://")
        }
        self.configuration = configuration
        var url = configuration.url
        if !url.hasSuffix("/v1/logs") {
            while url.hasSuffix("/") { url.removeLast() }
            url += "/v1/logs"
        }
        self.url = url
    }

    package var kind: String { "otlp" }

    /// The OTLP severity number of a swift-log level.
    package static func severityNumber(_ level: LogLevel) -> Int {
        switch level {
        case .trace: 1
        case .debug: 5
        case .info: 9
        case .notice: 10
        case .warning: 13
        case .error: 17
        case .critical: 21
        }
    }

    /// The batch as one `ExportLogsServiceRequest` in OTLP's JSON encoding.
    package func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        var body = JSONWriter(capacity: entries.estimatedJSONBytes * 2)
        body.append("{\"resourceLogs\":[{\"resource\":{\"attributes\":[")
        var resource = configuration.resourceAttributes
        resource["service.name"] = .string(configuration.serviceName)
        Self.writeKeyValues(resource, to: &body)
        body.append("]},\"scopeLogs\":[{\"scope\":{\"name\":")
        body.writeString(configuration.scopeName)
        body.append(",\"version\":")
        body.writeString(configuration.scopeVersion)
        body.append("},\"logRecords\":[")
        // Through the slice's buffer, as LokiSink does.
        entries.withUnsafeBufferPointer { entries in
            for index in entries.indices {
                if index > 0 { body.append(byte: UInt8(ascii: ",")) }
                writeRecord(entries[index], to: &body)
            }
        }
        body.append("]}]}]}")
        return SinkRequest(
            url: url,
            headers: [SinkRequest.Header("Content-Type", "application/json")],
            body: body.bytes,
            allowsGzip: true
        )
    }

    /// OTLP's table (``ResponseTable/otlp``: only 429, 502, 503, 504 are retried), and a 2xx
    /// whose `partialSuccess.rejectedLogRecords` is above zero is
    /// ``Verdict/partiallyDelivered(rejected:reason:)``, never retried.
    package func classify(_ response: SinkResponse) -> Verdict {
        let verdict = Verdict.standard(response, table: .otlp)
        guard case .delivered = verdict, !response.body.isEmpty,
              case .object(let root)? = response.body.withUnsafeBufferPointer({ try? JSONValue(parsing: $0) }),
              case .object(let partial)? = root["partialSuccess"]
        else { return verdict }
        let rejected: Int64
        switch partial["rejectedLogRecords"] {
        case .int(let count)?: rejected = count
        case .string(let text)?: rejected = Int64(text) ?? 0
        case .double(let count)? where count.isFinite && count >= 1 && count < 9e18: rejected = Int64(count)
        default: rejected = 0
        }
        guard rejected > 0 else { return verdict }
        var reason = "OTLP partial success: \(rejected) log records rejected"
        if case .string(let message)? = partial["errorMessage"], !message.isEmpty {
            reason += ": " + String(message.prefix(512))
        }
        return .partiallyDelivered(rejected: Int(clamping: rejected), reason: reason)
    }

    // MARK: - Records

    private func writeRecord(_ entry: StoredEntry, to output: inout JSONWriter) {
        let time = max(0, entry.timestamp)
        output.append("{\"timeUnixNano\":\"")
        output.writeInt(time)
        output.append("\",\"observedTimeUnixNano\":\"")
        output.writeInt(time)
        output.append("\",\"severityNumber\":")
        output.writeInt(Int64(Self.severityNumber(entry.level)))
        output.append(",\"severityText\":\"")
        output.append(raw: entry.level.rawValue)
        output.append("\",\"body\":{\"stringValue\":")
        entry.withMessageUTF8 { output.writeString(utf8: $0) }
        output.append("},\"attributes\":[")
        var attributes = entry.hasContext ? (entry.entry.context ?? [:]) : [:]
        let traceId = Self.takeHexID(from: &attributes, keys: ["trace_id", "traceId"], digits: 32)
        let spanId = Self.takeHexID(from: &attributes, keys: ["span_id", "spanId"], digits: 16)
        let flags = Self.takeFlags(from: &attributes)
        attributes["spool.topic"] = .string(entry.topic)
        attributes["spool.entry_id"] = .int(entry.id)
        Self.writeKeyValues(attributes, to: &output)
        output.append(byte: UInt8(ascii: "]"))
        if let traceId {
            output.append(",\"traceId\":\"")
            output.append(raw: traceId)
            output.append(byte: UInt8(ascii: "\""))
        }
        if let spanId {
            output.append(",\"spanId\":\"")
            output.append(raw: spanId)
            output.append(byte: UInt8(ascii: "\""))
        }
        if let flags {
            output.append(",\"flags\":")
            output.writeInt(Int64(flags))
        }
        output.append(byte: UInt8(ascii: "}"))
    }

    /// Removes and returns the first valid id among `keys`: `digits` hex digits, not all zero,
    /// lowercased. Invalid values are left as attributes.
    static func takeHexID(from attributes: inout [String: JSONValue], keys: [String], digits: Int) -> String? {
        for key in keys {
            guard case .string(let text)? = attributes[key], text.utf8.count == digits,
                  text.utf8.allSatisfy(\.isHexDigit), text.utf8.contains(where: { $0 != UInt8(ascii: "0") })
            else { continue }
            attributes[key] = nil
            return text.lowercased()
        }
        return nil
    }

    /// Removes and returns W3C trace flags given as 0–255 or as two hex digits.
    static func takeFlags(from attributes: inout [String: JSONValue]) -> Int? {
        for key in ["trace_flags", "traceFlags"] {
            let flags: Int?
            switch attributes[key] {
            case .int(let value)? where (0...255).contains(value): flags = Int(value)
            case .string(let text)? where text.utf8.count == 2 && text.utf8.allSatisfy(\.isHexDigit): flags = Int(text, radix: 16)
            default: flags = nil
            }
            if let flags {
                attributes[key] = nil
                return flags
            }
        }
        return nil
    }

    // MARK: - AnyValue

    /// `{"key":…,"value":{…}}` pairs, keys sorted, without the brackets.
    static func writeKeyValues(_ object: [String: JSONValue], to output: inout JSONWriter) {
        for (index, pair) in object.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { output.append(byte: UInt8(ascii: ",")) }
            output.append("{\"key\":")
            output.writeString(pair.key)
            output.append(",\"value\":")
            writeAnyValue(pair.value, to: &output)
            output.append(byte: UInt8(ascii: "}"))
        }
    }

    /// A JSON value as an OTLP `AnyValue`.
    static func writeAnyValue(_ value: JSONValue, to output: inout JSONWriter) {
        switch value {
        case .null: output.append("{}")
        case .bool(let flag): flag ? output.append("{\"boolValue\":true}") : output.append("{\"boolValue\":false}")
        case .int(let number):
            output.append("{\"intValue\":\"")
            output.writeInt(number)
            output.append("\"}")
        case .double(let number):
            // Non-finite values come out as "NaN"/"Infinity"/"-Infinity", proto3 JSON's spelling.
            output.append("{\"doubleValue\":")
            output.writeDouble(number)
            output.append(byte: UInt8(ascii: "}"))
        case .string(let text):
            output.append("{\"stringValue\":")
            output.writeString(text)
            output.append(byte: UInt8(ascii: "}"))
        case .array(let elements):
            output.append("{\"arrayValue\":{\"values\":[")
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(byte: UInt8(ascii: ",")) }
                writeAnyValue(element, to: &output)
            }
            output.append("]}}")
        case .object(let object):
            output.append("{\"kvlistValue\":{\"values\":[")
            writeKeyValues(object, to: &output)
            output.append("]}}")
        }
    }
}

extension UInt8 {
    /// An ASCII hex digit, either case.
    var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}
