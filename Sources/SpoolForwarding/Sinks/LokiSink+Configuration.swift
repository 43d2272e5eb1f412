import Spool

extension LokiSink {
    /// How entries become Loki streams and lines. Every field has a default except the URL.
    ///
    /// ```swift
    /// var configuration = LokiSink.Configuration(url: "http://127.0.0.1:3100")
    /// configuration.labels = ["service": "billing", "env": "prod"]
    /// configuration.tenant = "team-a"
    /// let sink = try LokiSink(configuration: configuration)
    /// ```
    ///
    /// For Loki 2.x, which has no structured metadata, set ``topic`` to
    /// ``TopicPlacement/line`` (or ``TopicPlacement/label``) and
    /// ``contextInStructuredMetadata`` to false, or use ``LineFormat/json`` lines.
    package struct Configuration: Sendable, Hashable {
        /// Where the topic goes. A label per topic multiplies Loki's streams, so it is opt-in.
        package enum TopicPlacement: String, Sendable, Hashable {
            /// A `topic` label: one stream per topic and level. Only for a few, stable topics.
            case label
            /// A `topic` key in the entry's structured metadata (Loki 3.x).
            case structuredMetadata
            /// In the line: `[topic] message` in ``LineFormat/message`` lines; ``LineFormat/json``
            /// lines carry the topic anyway. For Loki 2.x.
            case line
        }

        /// What a line holds.
        package enum LineFormat: String, Sendable, Hashable {
            /// The message alone, what people read in Grafana.
            case message
            /// `{"context":{…},"message":"…","schema":"…","topic":"…"}`, for LogQL's `| json`.
            case json
        }

        /// The base URL of Loki or its gateway, e.g. `http://127.0.0.1:3100`; the push path
        /// `/loki/api/v1/push` is appended unless the URL already ends with it. No default.
        package var url: String
        /// Labels on every stream, besides `level`. Names are sanitized to Loki's rules
        /// (`[a-zA-Z_][a-zA-Z0-9_]*`); at most 13 (14 without a topic label), since Loki
        /// allows 15 per stream. Default: none.
        package var labels: [String: String]
        /// Where the topic goes. Default: ``TopicPlacement/structuredMetadata``.
        package var topic: TopicPlacement
        /// What a line holds. Default: ``LineFormat/message``.
        package var line: LineFormat
        /// With ``LineFormat/message`` lines, whether the context's top-level keys go into
        /// structured metadata (values that are not strings as their JSON text), so that they
        /// are not lost. Default: true (Loki 3.x).
        package var contextInStructuredMetadata: Bool
        /// The tenant, sent as `X-Scope-OrgID`; nil or empty sends no header. Default: nil.
        package var tenant: String?
        /// Lines longer than this many UTF-8 bytes are cut, with a marker saying how long they
        /// were (JSON lines stay valid JSON). Default: 256 KiB, Loki's `max_line_size`.
        /// At least 1024.
        package var maximumLineBytes: Int

        /// Creates a configuration; see each property for its default.
        package init(
            url: String,
            labels: [String: String] = [:],
            topic: TopicPlacement = .structuredMetadata,
            line: LineFormat = .message,
            contextInStructuredMetadata: Bool = true,
            tenant: String? = nil,
            maximumLineBytes: Int = 256 * 1024
        ) {
            self.url = url
            self.labels = labels
            self.topic = topic
            self.line = line
            self.contextInStructuredMetadata = contextInStructuredMetadata
            self.tenant = tenant
            self.maximumLineBytes = maximumLineBytes
        }
    }
}

// MARK: - Loki's rules

extension LokiSink {
    /// Loki's per-stream label limit (3.x default).
    static let maximumLabels = 15
    /// Loki's label value limit, in bytes.
    static let maximumLabelValueBytes = 2048
    /// Loki's label name limit, in bytes.
    static let maximumLabelNameBytes = 1024
    /// Loki's structured metadata limits per line.
    static let maximumMetadataEntries = 128
    static let maximumMetadataBytes = 64 * 1024

    /// Whether `name` is already what ``labelName(_:)`` would make of it: the common case,
    /// checked without building a string.
    static func isLabelName(_ name: String) -> Bool {
        var index = 0
        for byte in name.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): break
            case UInt8(ascii: "0")...UInt8(ascii: "9"): if index == 0 { return false }
            case UInt8(ascii: "_"): if index == 1 && name.utf8.first == UInt8(ascii: "_") { return false }
            default: return false
            }
            index += 1
        }
        return index > 0 && index <= maximumLabelNameBytes
    }

    /// `name` made a valid Loki label name: characters outside `[a-zA-Z0-9_]` (`.`, `-`, `/`,
    /// any other) become `_`, a leading digit gets a `_` before it, and a leading `__`
    /// (reserved for Loki's own labels) becomes a single `_`. Never empty.
    static func labelName(_ name: String) -> String {
        if isLabelName(name) { return name }
        var output = ""
        output.reserveCapacity(name.utf8.count)
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_": output.unicodeScalars.append(scalar)
            default: output.append("_")
            }
        }
        if output.isEmpty { return "_" }
        if let first = output.utf8.first, first >= 0x30, first <= 0x39 { output = "_" + output }
        if output.hasPrefix("__") {
            output = "_" + output.drop(while: { $0 == "_" })
        }
        if output.utf8.count > maximumLabelNameBytes { output = String(output.prefix(maximumLabelNameBytes)) }
        return output
    }

    /// The configuration checked and resolved once, so that `encode` cannot fail on it (a
    /// throwing `encode` would make the scheduler dead-letter good entries).
    static func validate(_ configuration: Configuration) throws(SpoolError) -> (url: String, labels: [String: String]) {
        func invalid(_ message: String) -> SpoolError { SpoolError(.invalidArgument, "Loki sink: \(message)") }
        var url = configuration.url
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw invalid("the URL must start with http:// or https://")
        }
        let path = "/loki/api/v1/push"
        if !url.hasSuffix(path) {
            while url.hasSuffix("/") { url.removeLast() }
            url += path
        }
        var reserved: Set<String> = ["level"]
        if configuration.topic == .label { reserved.insert("topic") }
        guard configuration.labels.count + reserved.count <= maximumLabels else {
            throw invalid("\(configuration.labels.count) static labels; Loki allows \(maximumLabels) per stream, of which \(reserved.count) are the sink's")
        }
        var labels: [String: String] = [:]
        for name in configuration.labels.keys.sorted() {
            let value = configuration.labels[name]!
            let sanitized = labelName(name)
            guard !reserved.contains(sanitized) else { throw invalid("the label '\(sanitized)' is set by the sink") }
            guard labels[sanitized] == nil else {
                throw invalid("the labels '\(name)' and another both become '\(sanitized)' under Loki's naming rules")
            }
            guard !value.isEmpty else { throw invalid("the label '\(sanitized)' has an empty value, which Loki drops") }
            guard value.utf8.count <= maximumLabelValueBytes else {
                throw invalid("the value of label '\(sanitized)' is longer than \(maximumLabelValueBytes) bytes")
            }
            labels[sanitized] = value
        }
        guard configuration.maximumLineBytes >= 1024 else { throw invalid("the maximum line size must be at least 1024 bytes") }
        if let tenant = configuration.tenant, tenant.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw invalid("the tenant contains a control character")
        }
        return (url, labels)
    }
}
