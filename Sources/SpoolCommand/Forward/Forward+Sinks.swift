import ArgumentParser
import Foundation
import ServiceLifecycle
import Spool
import SpoolForwarding

/// One destination of `spool forward`: its sink, name and credentials, and any service that
/// must run beside the forwarder.
struct Destination {
    var name: String
    var sink: any SinkProtocol
    var credentials: Credentials = .none
    /// Requests per second, with a burst; nil for none.
    var rateLimit: (perSecond: Double, burst: Double)?
    /// The Pushgateway's pusher, which works with the sink's scheduler: the forwarder runs it
    /// beside the schedulers and pushes once more after them, so the final push carries the
    /// last counts.
    var companion: ((Transport) -> PushgatewayPusher)?
    /// The sink's scheduling when a configuration file gave it; nil: from the command's options.
    var scheduling: SinkScheduler.Configuration?
    /// Where entries go, for the start-up line: a URL or standard output.
    var target = ""
    /// Whether the sink reads for this run only (``OneOffSinks``).
    var oneOff = false
}

extension SpoolConfiguration.Sink.Destination {
    /// Where entries go, for the start-up line.
    var target: String {
        switch self {
        case .loki(let configuration): configuration.url
        case .http(let configuration): configuration.url
        case .otlp(let configuration): configuration.url
        case .pagerDuty(let configuration, _): configuration.url
        case .pushgateway(let configuration): configuration.url
        case .console: "standard output"
        }
    }
}

/// The secrets the options name, read before the spool is opened, so that a missing variable
/// or file fails at once and touches nothing.
struct Secrets {
    var loki = Credentials.none
    var http = Credentials.none
    var pagerDutyRoutingKey: String?
}

extension Forward {
    /// How many destinations the options name.
    var destinationCount: Int {
        [loki != nil, http != nil, sinks.otlp != nil, credentials.pagerDutyEnabled, sinks.pushgateway != nil, sinks.console]
            .filter { $0 }.count
    }

    /// Reads every credential and key of the destinations named (an error names the variable or
    /// file, never a value).
    func secrets() throws(SpoolError) -> Secrets {
        var secrets = Secrets()
        if loki != nil { secrets.loki = try credentials.loki() }
        if http != nil { secrets.http = try credentials.http() }
        secrets.pagerDutyRoutingKey = try credentials.pagerDutyRoutingKey()
        return secrets
    }

    /// The destinations the options name, in a fixed order, each named `--name`, its
    /// `--<kind>-name` or its kind.
    /// - Throws: ``SpoolError`` `.invalidArgument` for an invalid URL or two sinks of one name.
    func destinations(store: SpoolStore, secrets: Secrets) throws(SpoolError) -> [Destination] {
        var destinations: [Destination] = []
        func add(_ sink: any SinkProtocol, named override: String?, credentials: Credentials = .none, target: String) -> Int {
            var destination = Destination(name: name ?? override ?? sink.kind, sink: sink, credentials: credentials)
            destination.target = target
            destinations.append(destination)
            return destinations.count - 1
        }
        if let loki {
            let configuration = LokiSink.Configuration(
                url: loki, labels: Self.pairs(lokiLabels), topic: lokiTopicLabel ? .label : .structuredMetadata,
                line: lokiLine.format, tenant: lokiTenant)
            _ = add(try LokiSink(configuration: configuration), named: lokiName, credentials: secrets.loki, target: loki)
        }
        if let http {
            guard http.hasPrefix("http://") || http.hasPrefix("https://") else {
                throw SpoolError(.invalidArgument, "HTTP sink: the URL must start with http:// or https://")
            }
            _ = add(NDJSONSink(configuration: .init(url: http)), named: httpName, credentials: secrets.http, target: http)
        }
        if let otlp = sinks.otlp {
            var configuration = OTLPSink.Configuration(url: otlp)
            if let serviceName = sinks.otlpServiceName { configuration.serviceName = serviceName }
            configuration.resourceAttributes = Self.pairs(sinks.otlpResources).mapValues { .string($0) }
            _ = add(try OTLPSink(configuration: configuration), named: sinks.otlpName, target: otlp)
        }
        if let routingKey = secrets.pagerDutyRoutingKey {
            let configuration = PagerDutySink.Configuration(
                routingKey: routingKey, url: sinks.pagerdutyURL ?? PagerDutySink.Configuration.defaultURL,
                minimumLevel: sinks.pagerdutyMinLevel?.level ?? .error, source: sinks.pagerdutySource,
                component: sinks.pagerdutyComponent, group: sinks.pagerdutyGroup)
            let index = add(try PagerDutySink(configuration: configuration), named: sinks.pagerdutyName, target: configuration.url)
            // PagerDuty's per-key limit: 100 events a minute by default, in bursts of at most 20.
            destinations[index].rateLimit = PagerDutySink.defaultRateLimit
        }
        if let pushgateway = sinks.pushgateway {
            let configuration = PushgatewaySink.Configuration(
                url: pushgateway, job: sinks.job ?? "spool", instance: sinks.instance ?? Self.hostName())
            let sink = try PushgatewaySink(configuration: configuration, store: store)
            let index = add(sink, named: sinks.pushgatewayName, target: pushgateway)
            let name = destinations[index].name
            destinations[index].companion = { transport in PushgatewayPusher(sink: sink, name: name, transport: transport) }
        }
        if sinks.console {
            // A replay to the terminal: one-off, so it never holds entries back after the run.
            let index = add(ConsoleSink(configuration: .init(format: sinks.consoleFormat?.format ?? .automatic)), named: sinks.consoleName,
                            target: "standard output")
            destinations[index].oneOff = true
        }
        var seen: Set<String> = []
        for destination in destinations where !seen.insert(destination.name).inserted {
            throw SpoolError(.invalidArgument, "two sinks are named '\(destination.name)'; give them different names")
        }
        return destinations
    }

    /// `name=value` options as a dictionary (validated to hold a `=`).
    static func pairs(_ options: [String]) -> [String: String] {
        var pairs: [String: String] = [:]
        for option in options {
            let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            pairs[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return pairs
    }

    /// Batching, retry and lease settings from the options.
    func schedulerConfiguration(for destination: Destination) -> SinkScheduler.Configuration {
        var configuration = SinkScheduler.Configuration(name: destination.name)
        configuration.maxBatchEntries = batchSize
        configuration.maxInFlight = maxInFlight
        configuration.maxBatchWait = .milliseconds(maxBatchWait)
        configuration.credentials = destination.credentials.headers
        configuration.rateLimit = destination.rateLimit
        configuration.pauseAfterConsecutiveRejections = pauseAfterRejections
        if let leaseMs { configuration.lease = .milliseconds(leaseMs) }
        if let pollMs { configuration.pollInterval = .milliseconds(pollMs) }
        if let base = retryBaseMs {
            // Tests: the production schedule's shape, scaled down to `base` milliseconds.
            configuration.retry = .compressed(base: .milliseconds(base))
            configuration.breaker.coolDown = .milliseconds(10 * base)
        }
        return configuration
    }
}

/// Where each sink's credentials come from: variables and files, never values.
struct CredentialOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The Loki bearer token is in this environment variable.", valueName: "var"))
    var lokiBearerTokenEnv: String?
    @Option(help: ArgumentHelp("The Loki bearer token is in this file.", valueName: "path"))
    var lokiBearerTokenFile: String?
    @Option(help: ArgumentHelp("The Loki basic-auth user (with a password from --loki-basic-password-env/-file).", valueName: "user"))
    var lokiBasicUser: String?
    @Option(help: ArgumentHelp("The Loki basic-auth password is in this environment variable.", valueName: "var"))
    var lokiBasicPasswordEnv: String?
    @Option(help: ArgumentHelp("The Loki basic-auth password is in this file.", valueName: "path"))
    var lokiBasicPasswordFile: String?

    @Option(help: ArgumentHelp("The HTTP sink's bearer token is in this environment variable.", valueName: "var"))
    var httpBearerTokenEnv: String?
    @Option(help: ArgumentHelp("The HTTP sink's bearer token is in this file.", valueName: "path"))
    var httpBearerTokenFile: String?
    @Option(help: ArgumentHelp("The HTTP sink's basic-auth user.", valueName: "user"))
    var httpBasicUser: String?
    @Option(help: ArgumentHelp("The HTTP sink's basic-auth password is in this environment variable.", valueName: "var"))
    var httpBasicPasswordEnv: String?
    @Option(help: ArgumentHelp("The HTTP sink's basic-auth password is in this file.", valueName: "path"))
    var httpBasicPasswordFile: String?

    @Option(help: ArgumentHelp("The PagerDuty routing key is in this environment variable; turns PagerDuty on.", valueName: "var"))
    var pagerdutyRoutingKeyEnv: String?
    @Option(help: ArgumentHelp("The PagerDuty routing key is in this file; turns PagerDuty on.", valueName: "path"))
    var pagerdutyRoutingKeyFile: String?

    /// PagerDuty is on when its routing key has a source.
    var pagerDutyEnabled: Bool { pagerdutyRoutingKeyEnv != nil || pagerdutyRoutingKeyFile != nil }

    func validate() throws {
        if pagerdutyRoutingKeyEnv != nil && pagerdutyRoutingKeyFile != nil {
            throw ValidationError("Use one of --pagerduty-routing-key-env and --pagerduty-routing-key-file.")
        }
        try Self.check("loki", bearerEnv: lokiBearerTokenEnv, bearerFile: lokiBearerTokenFile,
                       user: lokiBasicUser, passwordEnv: lokiBasicPasswordEnv, passwordFile: lokiBasicPasswordFile)
        try Self.check("http", bearerEnv: httpBearerTokenEnv, bearerFile: httpBearerTokenFile,
                       user: httpBasicUser, passwordEnv: httpBasicPasswordEnv, passwordFile: httpBasicPasswordFile)
    }

    /// Whether any --loki-… credential option was given.
    var givesLoki: Bool {
        [lokiBearerTokenEnv, lokiBearerTokenFile, lokiBasicUser, lokiBasicPasswordEnv, lokiBasicPasswordFile].contains { $0 != nil }
    }

    /// Whether any --http-… credential option was given.
    var givesHTTP: Bool {
        [httpBearerTokenEnv, httpBearerTokenFile, httpBasicUser, httpBasicPasswordEnv, httpBasicPasswordFile].contains { $0 != nil }
    }

    func loki() throws(SpoolError) -> Credentials {
        try Self.resolve(bearerEnv: lokiBearerTokenEnv, bearerFile: lokiBearerTokenFile,
                         user: lokiBasicUser, passwordEnv: lokiBasicPasswordEnv, passwordFile: lokiBasicPasswordFile)
    }

    func http() throws(SpoolError) -> Credentials {
        try Self.resolve(bearerEnv: httpBearerTokenEnv, bearerFile: httpBearerTokenFile,
                         user: httpBasicUser, passwordEnv: httpBasicPasswordEnv, passwordFile: httpBasicPasswordFile)
    }

    /// The routing key, when PagerDuty is on; it goes in the request body, never in any output.
    func pagerDutyRoutingKey() throws(SpoolError) -> String? {
        if let pagerdutyRoutingKeyEnv { return try Credentials.secret(.environment(pagerdutyRoutingKeyEnv), what: "PagerDuty routing key") }
        if let pagerdutyRoutingKeyFile { return try Credentials.secret(.file(pagerdutyRoutingKeyFile), what: "PagerDuty routing key") }
        return nil
    }

    /// One scheme per sink, and a user goes with exactly one password source.
    private static func check(_ sink: String, bearerEnv: String?, bearerFile: String?,
                              user: String?, passwordEnv: String?, passwordFile: String?) throws {
        let bearer = [bearerEnv, bearerFile].compactMap { $0 }.count
        let password = [passwordEnv, passwordFile].compactMap { $0 }.count
        if bearer > 1 { throw ValidationError("Use one of --\(sink)-bearer-token-env and --\(sink)-bearer-token-file.") }
        if password > 1 { throw ValidationError("Use one of --\(sink)-basic-password-env and --\(sink)-basic-password-file.") }
        if bearer == 1 && (user != nil || password == 1) {
            throw ValidationError("A sink has either a bearer token or basic auth, not both (\(sink)).")
        }
        if (user != nil) != (password == 1) {
            throw ValidationError("Basic auth needs --\(sink)-basic-user and one of --\(sink)-basic-password-env/-file.")
        }
    }

    private static func resolve(bearerEnv: String?, bearerFile: String?,
                                user: String?, passwordEnv: String?, passwordFile: String?) throws(SpoolError) -> Credentials {
        if let bearerEnv { return try .bearer(token: .environment(bearerEnv)) }
        if let bearerFile { return try .bearer(token: .file(bearerFile)) }
        if let user, let passwordEnv { return try .basic(user: user, password: .environment(passwordEnv)) }
        if let user, let passwordFile { return try .basic(user: user, password: .file(passwordFile)) }
        return .none
    }
}
