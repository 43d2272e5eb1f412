import ArgumentParser
import Foundation
import Spool

/// One destination of `spool forward`: its sink, name and credentials.
struct Destination {
    var name: String
    var sink: any SinkProtocol
    var credentials: Credentials
}

extension Forward {
    /// The destinations the options name, credentials resolved (a missing variable or file is a
    /// ``SpoolError`` naming it, never a value).
    func destinations() throws(SpoolError) -> [Destination] {
        var destinations: [Destination] = []
        if let loki {
            var labels: [String: String] = [:]
            for label in lokiLabels {
                let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            let configuration = LokiSink.Configuration(
                url: loki, labels: labels, topic: lokiTopicLabel ? .label : .structuredMetadata,
                line: lokiLine.format, tenant: lokiTenant)
            let sink = try LokiSink(configuration: configuration)
            destinations.append(Destination(name: name ?? lokiName ?? sink.kind, sink: sink,
                                            credentials: try credentials.loki()))
        }
        if let http {
            guard http.hasPrefix("http://") || http.hasPrefix("https://") else {
                throw SpoolError(.invalidArgument, "HTTP sink: the URL must start with http:// or https://")
            }
            let sink = NDJSONSink(configuration: .init(url: http))
            destinations.append(Destination(name: name ?? httpName ?? sink.kind, sink: sink,
                                            credentials: try credentials.http()))
        }
        if destinations.count == 2 && destinations[0].name == destinations[1].name {
            throw SpoolError(.invalidArgument, "both sinks are named '\(destinations[0].name)'; give them different names")
        }
        return destinations
    }

    /// Batching, retry and lease settings from the options.
    func schedulerConfiguration(for destination: Destination) -> SinkScheduler.Configuration {
        var configuration = SinkScheduler.Configuration(name: destination.name)
        configuration.maxBatchEntries = batchSize
        configuration.maxInFlight = maxInFlight
        configuration.maxBatchWait = .milliseconds(maxBatchWait)
        configuration.credentials = destination.credentials.headers
        if let leaseMs { configuration.lease = .milliseconds(leaseMs) }
        if let pollMs { configuration.pollInterval = .milliseconds(pollMs) }
        if let base = retryBaseMs {
            // Tests: the production schedule's shape, scaled down to `base` milliseconds.
            var retry = RetryPolicy()
            retry.quickBase = .milliseconds(base)
            retry.quickJitter = .milliseconds(base)
            retry.slowBase = .milliseconds(5 * base)
            retry.minimumBackoff = .milliseconds(base)
            retry.maximumBackoff = .milliseconds(20 * base)
            retry.maximumRetryAfter = .milliseconds(50 * base)
            retry.misconfigurationPause = .milliseconds(20 * base)
            configuration.retry = retry
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

    func validate() throws {
        try Self.check("loki", bearerEnv: lokiBearerTokenEnv, bearerFile: lokiBearerTokenFile,
                       user: lokiBasicUser, passwordEnv: lokiBasicPasswordEnv, passwordFile: lokiBasicPasswordFile)
        try Self.check("http", bearerEnv: httpBearerTokenEnv, bearerFile: httpBearerTokenFile,
                       user: httpBasicUser, passwordEnv: httpBasicPasswordEnv, passwordFile: httpBasicPasswordFile)
    }

    func loki() throws(SpoolError) -> Credentials {
        try Self.resolve(bearerEnv: lokiBearerTokenEnv, bearerFile: lokiBearerTokenFile,
                         user: lokiBasicUser, passwordEnv: lokiBasicPasswordEnv, passwordFile: lokiBasicPasswordFile)
    }

    func http() throws(SpoolError) -> Credentials {
        try Self.resolve(bearerEnv: httpBearerTokenEnv, bearerFile: httpBearerTokenFile,
                         user: httpBasicUser, passwordEnv: httpBasicPasswordEnv, passwordFile: httpBasicPasswordFile)
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
