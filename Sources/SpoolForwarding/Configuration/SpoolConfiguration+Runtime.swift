import AsyncHTTPClient
import Foundation
import ServiceLifecycle
import Spool

extension SpoolConfiguration {
    /// One sink ready to forward: the protocol value and its scheduler configuration, with the
    /// credential headers read from their sources.
    package struct ResolvedSink: Sendable {
        /// The destination's protocol (wrapped in a level filter when ``Sink/minimumLevel`` is
        /// above `trace`).
        package var sink: any SinkProtocol
        /// The scheduling of ``Sink/scheduling``, with ``SinkScheduler/Configuration/credentials``
        /// set from ``Sink/credentials``.
        package var scheduling: SinkScheduler.Configuration
        /// A Pushgateway sink's ``PushgatewayPusher``, given the forwarder's transport (the sink
        /// only counts; the pusher pushes); nil for every other type. The ``Forwarder`` runs it
        /// (its `pushers`): beside the schedulers, and once more after them.
        package var companion: (@Sendable (Transport) -> PushgatewayPusher)?
    }

    /// Opens the spool the configuration names, with its store settings.
    /// - Throws: `SpoolError` from `SpoolStore.init(path:configuration:)`.
    public func openStore() throws(SpoolError) -> SpoolStore {
        try SpoolStore(path: spoolPath, configuration: store)
    }

    /// Builds every sink: checks the configuration, reads each credential from its environment
    /// variable or file, and makes the protocol values.
    ///
    /// This is the step where secrets are read, separate from loading the file, so a file can be
    /// checked (`spool forward --config FILE --check`, tests) where the secrets do not exist.
    /// Every problem is reported at once; messages name the variable or file, never a value.
    ///
    /// ```swift
    /// let configuration = try SpoolConfiguration(contentsOfFile: "/etc/spool/billing.yaml")
    /// for resolved in try configuration.makeSinks() {
    ///     print(resolved.scheduling.name, resolved.sink.kind)
    /// }
    /// ```
    ///
    /// A `pushgateway` sink keeps its counters in the spool, so it needs the open store: use
    /// ``makeSinks(store:environment:readFile:)`` for a configuration with one (here it is an
    /// error), or ``checkSinks(environment:readFile:)`` to check without a spool.
    /// - Parameters:
    ///   - environment: Where `*_env` secrets are looked up. Default: the process's environment.
    ///   - readFile: How `*_file` secrets are read. Default: at most 64 KiB from the file system.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``.
    package func makeSinks(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        readFile: (String) throws(SpoolError) -> [UInt8] = SpoolConfiguration.readSecretFile
    ) throws(SpoolError) -> [ResolvedSink] {
        try resolveSinks(store: nil, requireStore: true, environment: environment, readFile: readFile)
    }

    /// Builds every sink, as ``makeSinks(environment:readFile:)`` does, with the open spool a
    /// `pushgateway` sink counts in; its ``ResolvedSink/companion`` is the pusher to run.
    /// - Parameters:
    ///   - store: The open spool (``openStore()``).
    ///   - environment: Where `*_env` secrets are looked up. Default: the process's environment.
    ///   - readFile: How `*_file` secrets are read. Default: at most 64 KiB from the file system.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``.
    package func makeSinks(
        store: SpoolStore,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        readFile: (String) throws(SpoolError) -> [UInt8] = SpoolConfiguration.readSecretFile
    ) throws(SpoolError) -> [ResolvedSink] {
        try resolveSinks(store: store, requireStore: true, environment: environment, readFile: readFile)
    }

    /// Every check of ``makeSinks(store:environment:readFile:)``, secrets read included, without
    /// a spool: what `spool forward --config` runs before it opens the spool.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``.
    package func checkSinks(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        readFile: (String) throws(SpoolError) -> [UInt8] = SpoolConfiguration.readSecretFile
    ) throws(SpoolError) {
        _ = try resolveSinks(store: nil, requireStore: false, environment: environment, readFile: readFile)
    }

    private func resolveSinks(
        store: SpoolStore?, requireStore: Bool, environment: [String: String],
        readFile: (String) throws(SpoolError) -> [UInt8]
    ) throws(SpoolError) -> [ResolvedSink] {
        var problems: [String] = []
        var names: Set<String> = []
        var resolved: [ResolvedSink] = []
        for sink in sinks {
            let path = "sinks.\(sink.name)"
            guard !sink.name.isEmpty else { problems.append("sinks: a sink has an empty name"); continue }
            guard names.insert(sink.name).inserted else { problems.append("\(path): two sinks have this name"); continue }
            do throws(SpoolError) {
                var scheduling = sink.scheduling
                scheduling.credentials = try sink.credentials.headers(at: "\(path).credentials", environment: environment, readFile: readFile)
                let made = try Self.makeSink(sink, at: path, store: store, environment: environment, readFile: readFile)
                guard let made else {
                    if requireStore {
                        problems.append("\(path): a pushgateway sink counts entries in the spool; build it with makeSinks(store:)")
                    }
                    continue
                }
                var companion: (@Sendable (Transport) -> PushgatewayPusher)?
                if let counting = made.pushgateway {
                    let name = sink.name
                    let credentials = scheduling.credentials
                    companion = { transport in PushgatewayPusher(sink: counting, name: name, transport: transport, credentials: credentials) }
                }
                resolved.append(ResolvedSink(sink: made.sink, scheduling: scheduling, companion: companion))
            } catch {
                problems.append(error.message)
            }
        }
        // One line per problem, whatever a path or name in it holds.
        guard problems.isEmpty else { throw SpoolError(.configuration, problems.map(ConfigurationReader.oneLine).joined(separator: "\n")) }
        return resolved
    }

    /// The forwarder for every sink of this configuration, over one transport: what
    /// `spool forward --config FILE` runs.
    ///
    /// Run it as a swift-service-lifecycle `Service`, or call `run()` in a task: it forwards until
    /// the task is cancelled or a graceful shutdown is asked for, then gives requests in flight
    /// a few seconds to finish. A `pushgateway` sink's counters are pushed by the forwarder while
    /// it runs, and once more when its schedulers have stopped (for at most a few seconds more).
    ///
    /// ```swift
    /// let configuration = try SpoolConfiguration(contentsOfFile: "/etc/billing/spool.yaml")
    /// let store = try configuration.openStore()
    /// let forwarder = try configuration.makeForwarder(store: store, name: "billing")
    /// ```
    /// - Parameters:
    ///   - store: The open spool (``openStore()``).
    ///   - name: What this forwarder is, for people. Each sink's lease names it, with this
    ///     process's pid, host and start time: a second forwarder says who holds the sinks, and
    ///     one started after this process died takes them over at once.
    ///   - httpClient: An AsyncHTTPClient `HTTPClient` the app already has, to send with (its
    ///     connection pool, event loops, TLS and proxy settings). The app keeps owning it: the
    ///     forwarder leaves it running when it stops, for the app to shut down after. Its own
    ///     connect timeout, TLS and redirect settings apply; one that follows redirects could
    ///     carry a sink's credential headers to where a redirect points, so make it with
    ///     `redirectConfiguration: .disallow`. Default nil: the forwarder makes its own client
    ///     and shuts it down when `run()` returns.
    ///   - environment: Where `*_env` secrets are looked up. Default: the process's environment.
    /// - Returns: The forwarder. It reports what goes wrong (a sink failing, recovering,
    ///   dead-lettering) where the store does: to `SpoolStore.Configuration.logger` (set it in
    ///   ``store`` before ``openStore()``), or as one JSON line on stderr.
    /// - Throws: `SpoolError` naming the sink, when a sink's settings or secrets are not usable.
    public func makeForwarder(
        store: SpoolStore, name: String, httpClient: HTTPClient? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SpoolError) -> Forwarder {
        try makeForwarder(store: store, owner: LeaseOwner.thisProcess(name), clock: SystemClock(),
                          report: nil, httpClient: httpClient, environment: environment)
    }

    /// ``makeForwarder(store:name:httpClient:environment:)`` with the lease owner, clock and
    /// report channel given (the CLI and tests); a nil `report` is the store's.
    package func makeForwarder(
        store: SpoolStore, owner: String, clock: any WallClock,
        report: (@Sendable (LogEntry) -> Void)?, httpClient: HTTPClient? = nil,
        environment: [String: String]
    ) throws(SpoolError) -> Forwarder {
        let resolved = try makeSinks(store: store, environment: environment)
        let settings = self.transport
        let transport = httpClient.map { Transport(client: $0, configuration: settings, clock: clock) }
            ?? Transport(configuration: settings, clock: clock)
        let schedulers = resolved.map {
            SinkScheduler(store: store, sink: $0.sink, transport: transport, configuration: $0.scheduling,
                          owner: owner, clock: clock, report: report)
        }
        return Forwarder(schedulers: schedulers, transport: transport, clock: clock,
                         pushers: resolved.compactMap { $0.companion?(transport) })
    }

    /// The protocol value, and the counting sink when it is a Pushgateway's; nil for a
    /// Pushgateway without a store (checked, not built).
    private static func makeSink(_ sink: Sink, at path: String, store: SpoolStore?, environment: [String: String],
                                 readFile: (String) throws(SpoolError) -> [UInt8])
        throws(SpoolError) -> (sink: any SinkProtocol, pushgateway: PushgatewaySink?)? {
        let made: any SinkProtocol
        var pushgateway: PushgatewaySink?
        do throws(SpoolError) {
            switch sink.destination {
            case .loki(let configuration): made = try LokiSink(configuration: configuration)
            case .http(let configuration):
                guard configuration.url.hasPrefix("http://") || configuration.url.hasPrefix("https://") else {
                    throw SpoolError(.invalidArgument, "the URL must start with http:// or https://")
                }
                made = NDJSONSink(configuration: configuration)
            case .otlp(let configuration): made = try OTLPSink(configuration: configuration)
            case .pagerDuty(var configuration, let routingKey):
                configuration.routingKey = try routingKey.resolve(for: "\(path).routing_key", environment: environment, readFile: readFile)
                made = try PagerDutySink(configuration: configuration)
            case .pushgateway(let configuration):
                guard let store else {
                    _ = try PushgatewaySink.groupURL(configuration)
                    guard sink.minimumLevel == .trace else {
                        throw SpoolError(.configuration, "\(path): a pushgateway sink counts entries of every level; leave minimumLevel at trace")
                    }
                    return nil
                }
                let counting = try PushgatewaySink(configuration: configuration, store: store)
                pushgateway = counting
                made = counting
            case .console(let configuration): made = ConsoleSink(configuration: configuration)
            }
        } catch where error.code == .configuration {
            throw error
        } catch {
            throw SpoolError(.configuration, "\(path): \(error.message)")
        }
        guard sink.minimumLevel > .trace else { return (made, pushgateway) }
        if pushgateway != nil {
            throw SpoolError(.configuration, "\(path): a pushgateway sink counts entries of every level; leave minimumLevel at trace")
        }
        if let local = made as? any LocalSink {
            return (LevelFilteredLocalSink(base: local, minimumLevel: sink.minimumLevel), nil)
        }
        return (LevelFilteredSink(base: made, minimumLevel: sink.minimumLevel), nil)
    }

    /// At most 64 KiB of the file: what the default `readFile` of ``makeSinks(environment:readFile:)`` does.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/io`` naming the file.
    package static func readSecretFile(_ path: String) throws(SpoolError) -> [UInt8] {
        try readFile(path, limit: 64 * 1024, what: "the secret file")
    }
}

// MARK: - Secrets

extension SpoolConfiguration.Secret {
    /// The secret's value, read from its source; trailing line breaks of a file are dropped.
    /// - Parameters:
    ///   - what: The key path named in errors, e.g. `sinks.loki.credentials.bearer`.
    ///   - environment: Where an environment variable is looked up.
    ///   - readFile: How a file is read.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration`` naming the variable
    ///   or file (never the value) when it is unset, unreadable, empty, not UTF-8, or holds a
    ///   control character (which would break the header it goes in).
    package func resolve(for what: String, environment: [String: String],
                        readFile: (String) throws(SpoolError) -> [UInt8]) throws(SpoolError) -> String {
        func refuse(_ message: String) -> SpoolError { SpoolError(.configuration, "\(what): \(message)") }
        let value: String
        let source: String
        switch self {
        case .environment(let name):
            source = "the environment variable \(name)"
            guard let found = environment[name] else { throw refuse("\(source) is not set") }
            value = found
        case .file(let path):
            // A path that does not start like one may be the secret itself, pasted in the wrong
            // place (`token_file: sk_live_…`): it is not repeated.
            let showsPath = path.hasPrefix("/") || path.hasPrefix("./") || path.hasPrefix("../")
            let shown = showsPath ? path : "(its path is not shown: it does not start with /, ./ or ../, and may be the secret itself)"
            source = "the file \(shown)"
            let bytes: [UInt8]
            do throws(SpoolError) {
                bytes = try readFile(path)
            } catch {
                // The reader says "the secret file <path> <what is wrong>"; without the path,
                // only what is wrong is kept (never a search and replace of the path, which a
                // short path would match all over the message).
                let prefix = "the secret file \(path) "
                let message = showsPath ? error.message
                    : "the secret file \(shown) " + (error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : "cannot be read")
                throw refuse("cannot read the secret: \(message)")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw refuse("\(source) is not UTF-8 text") }
            var trimmed = Substring(text)
            while let last = trimmed.last, last == "\n" || last == "\r" || last == "\r\n" { trimmed.removeLast() }
            value = String(trimmed)
        case .value(let given):
            source = "the value given in code"
            value = given
        }
        guard !value.isEmpty else { throw refuse("\(source) is empty") }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw refuse("\(source) holds a line break or another control character, which cannot go in an HTTP header")
        }
        return value
    }
}

extension SpoolConfiguration.Credentials {
    /// The headers these credentials make, with every secret read.
    /// - Parameters:
    ///   - what: The key path named in errors, e.g. `sinks.loki.credentials`.
    ///   - environment: Where environment variables are looked up.
    ///   - readFile: How files are read.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``, never holding a value.
    package func headers(at what: String, environment: [String: String],
                        readFile: (String) throws(SpoolError) -> [UInt8]) throws(SpoolError) -> [SinkRequest.Header] {
        var headers: [SinkRequest.Header] = []
        let authorizationHeaders = (basic == nil ? 0 : 1) + (bearer == nil ? 0 : 1)
            + (self.headers.keys.contains { $0.lowercased() == "authorization" } ? 1 : 0)
        guard authorizationHeaders <= 1 else {
            throw SpoolError(.configuration, "\(what): basic, bearer and an Authorization header each set Authorization; keep one")
        }
        if let basic {
            let password = try basic.password.resolve(for: "\(what).basic.password", environment: environment, readFile: readFile)
            let encoded = Data("\(basic.username):\(password)".utf8).base64EncodedString()
            headers.append(SinkRequest.Header("Authorization", "Basic \(encoded)"))
        }
        if let bearer {
            let token = try bearer.resolve(for: "\(what).bearer.token", environment: environment, readFile: readFile)
            headers.append(SinkRequest.Header("Authorization", "Bearer \(token)"))
        }
        for name in self.headers.keys.sorted() {
            let value = try self.headers[name]!.resolve(for: "\(what).headers.\(name)", environment: environment, readFile: readFile)
            headers.append(SinkRequest.Header(name, value))
        }
        return headers
    }
}
