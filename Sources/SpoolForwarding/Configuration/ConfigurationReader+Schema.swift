import Spool
import Yams

/// The file's top level: `version`, `spool`, `redaction`, `transport`, `sinks`, `ingest`, `metrics`. Every value
/// starts from the Swift default, so a key left out means exactly what leaving the property
/// alone means in code.
extension ConfigurationReader {
    static let topLevelKeys = ["version", "spool", "redaction", "transport", "sinks", "ingest", "metrics"]

    /// The configuration, or nil when a required part is missing; problems are in ``issues``.
    func configuration(_ root: Node) -> SpoolConfiguration? {
        // A whole file that is one scalar may be a secret: `--config` pointed at a token file.
        if case .scalar = root, !isNull(root) {
            fail("", root, "expected a mapping of keys to values, got \(describe(root, hidingText: true, showingKeys: true))")
            return nil
        }
        guard let top = mapping(root, at: "", known: Self.topLevelKeys) else { return nil }
        if let node = top["version"], let version = integer(node, at: "version", in: 1...Int.max), version != 1 {
            fail("version", node, "this Spool reads version 1 configuration files, not version \(version)")
        }
        var configuration = SpoolConfiguration(spoolPath: "")
        if let node = top["spool"] {
            spool(node, into: &configuration)
        } else {
            fail("spool", line: root.mark?.line, "missing required key 'spool' (the spool file and how it is written)")
        }
        if let node = top["redaction"] { configuration.redaction = redaction(node, at: "redaction") }
        if let node = top["transport"] { configuration.transport = transport(node, at: "transport") }
        if let node = top["sinks"] { configuration.sinks = sinks(node, at: "sinks") }
        if let node = top["ingest"] { configuration.ingest = ingest(node, at: "ingest") }
        if let node = top["metrics"] { configuration.metrics = metrics(node, at: "metrics") }
        return issues.isEmpty ? configuration : nil
    }

    // MARK: - spool

    static let spoolKeys = ["path", "durability", "max_delay", "max_size", "overflow", "max_message_size", "busy_timeout"]

    private func spool(_ node: Node, into configuration: inout SpoolConfiguration) {
        let path = "spool"
        guard let keys = mapping(node, at: path, known: Self.spoolKeys) else { return }
        if let value = keys["path"] {
            if let text = string(value, at: "spool.path") {
                if text.utf8.contains(0) {
                    fail("spool.path", value, "the path contains a NUL character")
                } else {
                    configuration.spoolPath = text
                }
            }
        } else {
            fail("spool.path", line: node.mark?.line, "missing required key 'path' (the spool file, e.g. /var/lib/app/app.spool)")
        }
        var store = configuration.store
        let mode = keys["durability"].flatMap {
            choice($0, at: "spool.durability", ["committed": "committed", "fsync": "fsync", "buffered": "buffered"])
        } ?? "committed"
        switch mode {
        case "fsync": store.durability = .fsync
        case "buffered":
            let delay = keys["max_delay"].flatMap { duration($0, at: "spool.max_delay") } ?? .milliseconds(200)
            store.durability = .buffered(maxDelay: delay)
        default: store.durability = .committed
        }
        if mode != "buffered", let value = keys["max_delay"] {
            fail("spool.max_delay", value, "max_delay applies only to durability: buffered (durability is \(mode))")
        }
        if let value = keys["max_size"] {
            if case .scalar(let scalar) = value, scalar.string.lowercased() == "none" {
                store.maximumBytes = nil
            } else if let bytes = size(value, at: "spool.max_size", minimum: SpoolStore.Configuration.minimumMaximumBytes,
                                        why: "an empty spool's tables take 56 KiB, so a bound near that would drop every entry") {
                store.maximumBytes = bytes
            }
        }
        if let value = keys["overflow"], let policy = choice(value, at: "spool.overflow", [
            "drop_oldest": SpoolStore.OverflowPolicy.dropOldest, "drop_newest": .dropNewest, "reject": .reject,
        ]) {
            store.overflowPolicy = policy
        }
        if let value = keys["max_message_size"], let bytes = size(value, at: "spool.max_message_size", minimum: 1024) {
            store.maximumMessageBytes = Int(clamping: bytes)
        }
        if let value = keys["busy_timeout"], let timeout = duration(value, at: "spool.busy_timeout", allowZero: true) {
            store.busyTimeout = timeout
        }
        configuration.store = store
    }

    // MARK: - redaction

    static let redactionKeys = ["keys", "extra_keys", "marker"]

    private func redaction(_ node: Node, at path: String) -> Redaction {
        var redaction = Redaction()
        guard let keys = mapping(node, at: path, known: Self.redactionKeys) else { return redaction }
        if let value = keys["keys"], let list = stringList(value, at: "\(path).keys") {
            redaction.keys = list
        }
        if let value = keys["extra_keys"], let list = stringList(value, at: "\(path).extra_keys") {
            redaction.keys += list.filter { !redaction.keys.contains($0) }
        }
        if let value = keys["marker"], let marker = string(value, at: "\(path).marker", allowEmpty: true) {
            redaction.marker = .string(marker)
        }
        return redaction
    }

    // MARK: - metrics

    static let metricsKeys = ["address", "unhealthy_after", "status_interval"]

    private func metrics(_ node: Node, at path: String) -> SpoolConfiguration.Metrics {
        var metrics = SpoolConfiguration.Metrics()
        guard let keys = mapping(node, at: path, known: Self.metricsKeys) else { return metrics }
        if let value = keys["address"], let text = string(value, at: "\(path).address") {
            do {
                metrics.address = try MetricsAddress(parsing: text)
            } catch {
                fail("\(path).address", value, error.message)
            }
        }
        if let value = keys["unhealthy_after"], let threshold = duration(value, at: "\(path).unhealthy_after") {
            metrics.unhealthyAfter = threshold
        }
        if let value = keys["status_interval"] {
            // `0` (never) needs no unit; any other value does.
            if case .scalar(let scalar) = value, scalar.string == "0" {
                metrics.statusInterval = nil
            } else if let interval = duration(value, at: "\(path).status_interval", allowZero: true) {
                metrics.statusInterval = interval == .zero ? nil : interval
            }
        }
        return metrics
    }

    // MARK: - ingest

    static let ingestKeys = ["format", "topic", "level", "fields"]
    static let ingestFieldKeys = ["message", "time", "level", "topic"]

    private func ingest(_ node: Node, at path: String) -> SpoolConfiguration.Ingest {
        var ingest = SpoolConfiguration.Ingest()
        guard let keys = mapping(node, at: path, known: Self.ingestKeys) else { return ingest }
        if let value = keys["format"], let format = choice(value, at: "\(path).format", [
            "text": SpoolConfiguration.Ingest.Format.text, "json": .json, "logfmt": .logfmt,
        ]) {
            ingest.format = format
        }
        if let value = keys["topic"], let topic = string(value, at: "\(path).topic") { ingest.topic = topic }
        if let value = keys["level"], let level = level(value, at: "\(path).level") { ingest.level = level }
        if let value = keys["fields"], let fields = mapping(value, at: "\(path).fields", known: Self.ingestFieldKeys) {
            func names(_ key: String) -> [String] {
                guard let node = fields[key] else { return [] }
                let keyPath = "\(path).fields.\(key)"
                // One name or a list of names, tried in order.
                if case .scalar = node, let one = string(node, at: keyPath) { return [one] }
                if case .scalar = node { return [] }
                return stringList(node, at: keyPath) ?? []
            }
            ingest.fields = .init(message: names("message"), time: names("time"), level: names("level"), topic: names("topic"))
        }
        return ingest
    }

    // MARK: - transport

    static let transportKeys = ["connect_timeout", "request_timeout", "gzip_threshold", "gzip_level", "max_concurrent_requests", "user_agent"]

    private func transport(_ node: Node, at path: String) -> Transport.Configuration {
        var transport = Transport.Configuration()
        guard let keys = mapping(node, at: path, known: Self.transportKeys) else { return transport }
        if let value = keys["connect_timeout"], let timeout = duration(value, at: "\(path).connect_timeout") {
            transport.connectTimeout = timeout
        }
        if let value = keys["request_timeout"], let timeout = duration(value, at: "\(path).request_timeout") {
            transport.requestTimeout = timeout
        }
        if let value = keys["gzip_threshold"], let bytes = size(value, at: "\(path).gzip_threshold", minimum: 0) {
            transport.gzipThreshold = Int(clamping: bytes)
        }
        if let value = keys["gzip_level"], let level = integer(value, at: "\(path).gzip_level", in: 1...9) {
            transport.gzipLevel = level
        }
        if let value = keys["max_concurrent_requests"], let count = integer(value, at: "\(path).max_concurrent_requests", in: 1...10_000) {
            transport.maximumConcurrentRequests = count
        }
        if let value = keys["user_agent"], let agent = headerValue(value, at: "\(path).user_agent") {
            transport.userAgent = agent
        }
        return transport
    }

    /// Text that can go in an HTTP header: no control characters.
    func headerValue(_ node: Node, at path: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            fail(path, node, "a header value cannot contain control characters or line breaks")
            return nil
        }
        return text
    }
}
