import Foundation
import Spool
import Yams

/// `sinks:` — a mapping of sink names to sinks, each with a `type`, the options of its type,
/// and the scheduling and credential keys every type shares.
extension ConfigurationReader {
    /// Types a file can name.
    static let sinkTypes = ["loki", "http", "otlp", "pagerduty", "pushgateway", "console"]
    /// Types being built elsewhere; named so the error says "not yet" rather than "unknown".
    static let upcomingSinkTypes: [String] = []

    static let commonSinkKeys = [
        "type", "url", "minimum_level", "batch_size", "batch_bytes", "batch_wait", "max_in_flight", "lease",
        "poll_interval", "rate_limit", "breaker", "retry", "credentials", "pause_after_rejections",
    ]
    static let typeSinkKeys: [String: [String]] = [
        "loki": ["labels", "tenant", "topic", "line", "context_in_structured_metadata", "max_line_size"],
        "http": [],
        "otlp": ["service_name", "resource_attributes", "scope_name", "scope_version"],
        "pagerduty": ["routing_key_env", "routing_key_file", "source", "component", "group", "class"],
        "pushgateway": ["job", "instance", "grouping_labels", "interval"],
        "console": ["format"],
    ]

    func sinks(_ node: Node, at path: String) -> [SpoolConfiguration.Sink] {
        guard let named = namedMapping(node, at: path) else { return [] }
        var sinks: [SpoolConfiguration.Sink] = []
        for (name, value) in named {
            let sinkPath = join(path, name)
            guard SpoolConfiguration.isSinkName(name) else {
                fail(sinkPath, value, SpoolConfiguration.sinkNameRule)
                continue
            }
            if let sink = sink(value, named: name, at: sinkPath) { sinks.append(sink) }
        }
        return sinks
    }

    private func sink(_ node: Node, named name: String, at path: String) -> SpoolConfiguration.Sink? {
        guard refuseAnchor(node, at: path) else { return nil }
        guard case .mapping(let raw) = node else {
            fail(path, node, "expected a sink (a mapping with at least 'type'), got \(describe(node))")
            return nil
        }
        // The type decides which keys are known, so it is read first.
        guard let typeNode = raw.first(where: { $0.key.scalar?.string == "type" })?.value else {
            fail(path, node, "missing required key 'type' (one of \(Self.sinkTypes.joined(separator: ", ")))")
            return nil
        }
        guard let type = string(typeNode, at: "\(path).type")?.lowercased() else { return nil }
        guard let typeKeys = Self.typeSinkKeys[type] else {
            if Self.upcomingSinkTypes.contains(type) {
                fail("\(path).type", typeNode, "the sink type '\(type)' is not supported in configuration files yet; supported types: \(Self.sinkTypes.joined(separator: ", "))")
            } else {
                fail("\(path).type", typeNode, "unknown sink type \(quoted(type)); expected one of \(Self.sinkTypes.joined(separator: ", "))")
            }
            return nil
        }
        guard let keys = mapping(node, at: path, known: Self.commonSinkKeys + typeKeys) else { return nil }
        let issuesBefore = issues.count
        let url: String?
        if type == "console" {
            if let value = keys["url"] { fail("\(path).url", value, "a console sink writes to standard output; it takes no 'url'") }
            url = nil
        } else if let value = keys["url"] {
            url = self.url(value, at: "\(path).url")
        } else if type == "pagerduty" {
            url = PagerDutySink.Configuration.defaultURL
        } else {
            fail(path, node, "missing required key 'url'")
            url = nil
        }
        let level = keys["minimum_level"].flatMap { self.level($0, at: "\(path).minimum_level") }
        if type == "pushgateway", let value = keys["minimum_level"] {
            fail("\(path).minimum_level", value, "a pushgateway sink counts entries of every level; it takes no 'minimum_level'")
        }
        let destination: SpoolConfiguration.Sink.Destination?
        switch type {
        case "loki": destination = loki(keys, url: url, at: path, node: node)
        case "otlp": destination = otlp(keys, url: url, at: path)
        case "pagerduty": destination = pagerDuty(keys, url: url, level: level, at: path, node: node)
        case "pushgateway": destination = pushgateway(keys, url: url, at: path, node: node)
        case "console": destination = console(keys, at: path)
        default: destination = url.map { .http(NDJSONSink.Configuration(url: $0)) }
        }
        guard let destination else {
            // The rest is still read, so every problem of the sink is said at once (a bad URL
            // does not hide a bad batch_size).
            var unused = SinkScheduler.Configuration(name: name)
            scheduling(keys, at: path, into: &unused)
            if let value = keys["credentials"] { _ = credentials(value, at: "\(path).credentials") }
            return nil
        }
        var sink = SpoolConfiguration.Sink(name: name, destination: destination)
        if type != "pagerduty", let level { sink.minimumLevel = level }
        scheduling(keys, at: path, into: &sink.scheduling)
        if let value = keys["credentials"] { sink.credentials = credentials(value, at: "\(path).credentials") }
        return issues.count == issuesBefore ? sink : nil
    }

    // MARK: - Types

    private func loki(_ keys: OrderedPairs, url: String?, at path: String, node: Node) -> SpoolConfiguration.Sink.Destination? {
        var configuration = LokiSink.Configuration(url: url ?? "")
        if let value = keys["labels"], let labels = stringMap(value, at: "\(path).labels") { configuration.labels = labels }
        if let value = keys["tenant"], let tenant = headerValue(value, at: "\(path).tenant") { configuration.tenant = tenant }
        if let value = keys["topic"], let topic = choice(value, at: "\(path).topic", [
            "structured_metadata": LokiSink.Configuration.TopicPlacement.structuredMetadata, "label": .label, "line": .line,
        ]) {
            configuration.topic = topic
        }
        if let value = keys["line"], let line = choice(value, at: "\(path).line", [
            "message": LokiSink.Configuration.LineFormat.message, "json": .json,
        ]) {
            configuration.line = line
        }
        if let value = keys["context_in_structured_metadata"], let flag = bool(value, at: "\(path).context_in_structured_metadata") {
            configuration.contextInStructuredMetadata = flag
        }
        if let value = keys["max_line_size"], let bytes = size(value, at: "\(path).max_line_size", minimum: 1024) {
            configuration.maximumLineBytes = Int(clamping: bytes)
        }
        guard url != nil else { return nil }
        // The sink's own checks (label count, reserved names…), reported here with a line.
        do throws(SpoolError) {
            _ = try LokiSink(configuration: configuration)
        } catch {
            fail(path, keys["labels"] ?? node, error.message)
            return nil
        }
        return .loki(configuration)
    }

    private func otlp(_ keys: OrderedPairs, url: String?, at path: String) -> SpoolConfiguration.Sink.Destination? {
        var configuration = OTLPSink.Configuration(url: url ?? "")
        if let value = keys["service_name"], let name = string(value, at: "\(path).service_name") { configuration.serviceName = name }
        if let value = keys["scope_name"], let name = string(value, at: "\(path).scope_name") { configuration.scopeName = name }
        if let value = keys["scope_version"], let version = string(value, at: "\(path).scope_version") { configuration.scopeVersion = version }
        if let value = keys["resource_attributes"], let pairs = namedMapping(value, at: "\(path).resource_attributes") {
            for (key, node) in pairs {
                if let attribute = scalarJSON(node, at: "\(path).resource_attributes.\(key)") {
                    configuration.resourceAttributes[key] = attribute
                }
            }
        }
        return url.map { _ in .otlp(configuration) }
    }

    private func pagerDuty(_ keys: OrderedPairs, url: String?, level: LogLevel?, at path: String, node: Node) -> SpoolConfiguration.Sink.Destination? {
        let routingKey = secret(keys, name: "routing_key", at: path, node: node, required: true)
        var configuration = PagerDutySink.Configuration(routingKey: "", url: url ?? "")
        if let level { configuration.minimumLevel = level }
        if let value = keys["source"], let source = string(value, at: "\(path).source") { configuration.source = source }
        if let value = keys["component"], let component = string(value, at: "\(path).component") { configuration.component = component }
        if let value = keys["group"], let group = string(value, at: "\(path).group") { configuration.group = group }
        if let value = keys["class"], let eventClass = string(value, at: "\(path).class") { configuration.eventClass = eventClass }
        guard url != nil, let routingKey else { return nil }
        return .pagerDuty(configuration, routingKey: routingKey)
    }

    private func pushgateway(_ keys: OrderedPairs, url: String?, at path: String, node: Node) -> SpoolConfiguration.Sink.Destination? {
        var configuration = PushgatewaySink.Configuration(url: url ?? "")
        if let value = keys["job"], let job = string(value, at: "\(path).job") { configuration.job = job }
        if let value = keys["instance"], let instance = string(value, at: "\(path).instance") { configuration.instance = instance }
        if let value = keys["grouping_labels"], let labels = stringMap(value, at: "\(path).grouping_labels") {
            configuration.groupingLabels = labels
        }
        if let value = keys["interval"], let interval = duration(value, at: "\(path).interval") {
            if interval < .seconds(1) {
                fail("\(path).interval", value, "an interval shorter than 1s would push the same counts over and over")
            } else {
                configuration.interval = interval
            }
        }
        guard url != nil else { return nil }
        // The sink's own checks (a grouping label named job or instance…), reported with a line.
        do throws(SpoolError) {
            _ = try PushgatewaySink.groupURL(configuration)
        } catch {
            fail(path, keys["grouping_labels"] ?? node, error.message)
            return nil
        }
        return .pushgateway(configuration)
    }

    private func console(_ keys: OrderedPairs, at path: String) -> SpoolConfiguration.Sink.Destination? {
        var configuration = ConsoleSink.Configuration()
        if let value = keys["format"], let format = choice(value, at: "\(path).format", [
            "auto": ConsoleFormatChoice.automatic, "human": .human, "json": .json,
        ]) {
            configuration.format = format.format
        }
        return .console(configuration)
    }

    /// A scalar as JSON: unquoted integers, numbers and booleans keep their type.
    private func scalarJSON(_ node: Node, at path: String) -> JSONValue? {
        guard let text = string(node, at: path, allowEmpty: true) else { return nil }
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return .string(text) }
        if let integer = Int64(text) { return .int(integer) }
        if text == "true" || text == "false" { return .bool(text == "true") }
        if text.first.map({ $0.isNumber || $0 == "-" }) == true, let number = Double(text), number.isFinite { return .double(number) }
        return .string(text)
    }

    // MARK: - Scheduling

    static let rateLimitKeys = ["per_second", "burst"]
    static let breakerKeys = ["failure_threshold", "cool_down"]
    static let retryKeys = [
        "quick_attempts", "quick_base", "quick_jitter", "slow_base", "min_backoff", "max_backoff", "max_retry_after",
        "misconfiguration_pause",
    ]

    private func scheduling(_ keys: OrderedPairs, at path: String, into scheduling: inout SinkScheduler.Configuration) {
        if let value = keys["batch_size"], let count = integer(value, at: "\(path).batch_size", in: 1...1_000_000) {
            scheduling.maxBatchEntries = count
        }
        if let value = keys["batch_bytes"], let bytes = size(value, at: "\(path).batch_bytes", minimum: 1024) {
            scheduling.maxBatchBytes = Int(clamping: bytes)
        }
        if let value = keys["batch_wait"], let wait = duration(value, at: "\(path).batch_wait", allowZero: true) {
            scheduling.maxBatchWait = wait
        }
        if let value = keys["max_in_flight"], let count = integer(value, at: "\(path).max_in_flight", in: 1...1000) {
            scheduling.maxInFlight = count
        }
        if let value = keys["pause_after_rejections"], let count = integer(value, at: "\(path).pause_after_rejections", in: 0...1_000_000) {
            scheduling.pauseAfterConsecutiveRejections = count
        }
        if let value = keys["lease"], let lease = duration(value, at: "\(path).lease") {
            if lease < .seconds(1) {
                fail("\(path).lease", value, "a lease shorter than 1s would expire while a request is in flight")
            } else {
                scheduling.lease = lease
            }
        }
        if let value = keys["poll_interval"], let interval = duration(value, at: "\(path).poll_interval") {
            scheduling.pollInterval = interval
        }
        if let value = keys["rate_limit"], let limit = mapping(value, at: "\(path).rate_limit", known: Self.rateLimitKeys) {
            let perSecond = limit["per_second"].flatMap { positiveNumber($0, at: "\(path).rate_limit.per_second") }
            if limit["per_second"] == nil { fail("\(path).rate_limit", value, "missing required key 'per_second'") }
            let burst = limit["burst"].flatMap { positiveNumber($0, at: "\(path).rate_limit.burst") }
            if let perSecond { scheduling.rateLimit = (perSecond, burst ?? max(1, perSecond)) }
        }
        if let value = keys["breaker"], let breaker = mapping(value, at: "\(path).breaker", known: Self.breakerKeys) {
            if let node = breaker["failure_threshold"], let count = integer(node, at: "\(path).breaker.failure_threshold", in: 1...1_000_000) {
                scheduling.breaker.failureThreshold = count
            }
            if let node = breaker["cool_down"], let coolDown = duration(node, at: "\(path).breaker.cool_down") {
                scheduling.breaker.coolDown = coolDown
            }
        }
        if let value = keys["retry"], let retry = mapping(value, at: "\(path).retry", known: Self.retryKeys) {
            var policy = scheduling.retry
            let durations: [(String, WritableKeyPath<RetryPolicy, Duration>)] = [
                ("quick_base", \.quickBase), ("quick_jitter", \.quickJitter), ("slow_base", \.slowBase),
                ("min_backoff", \.minimumBackoff), ("max_backoff", \.maximumBackoff),
                ("max_retry_after", \.maximumRetryAfter), ("misconfiguration_pause", \.misconfigurationPause),
            ]
            for (key, property) in durations {
                if let node = retry[key], let duration = duration(node, at: "\(path).retry.\(key)", allowZero: key == "quick_jitter") {
                    policy[keyPath: property] = duration
                }
            }
            if let node = retry["quick_attempts"], let count = integer(node, at: "\(path).retry.quick_attempts", in: 1...10) {
                policy.quickAttempts = count
            }
            if policy.minimumBackoff > policy.maximumBackoff {
                fail("\(path).retry", value, "min_backoff (\(policy.minimumBackoff)) is longer than max_backoff (\(policy.maximumBackoff))")
            }
            scheduling.retry = policy
        }
    }
}

/// A console sink's `format`: human lines are coloured only on a terminal, and never with
/// `NO_COLOR` set (as `spool forward --console-format human`).
enum ConsoleFormatChoice: Sendable {
    case automatic, human, json

    var format: ConsoleHandler.Format {
        switch self {
        case .automatic: .automatic
        case .json: .json
        case .human: .human(colour: isatty(1) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"]?.isEmpty ?? true))
        }
    }
}
