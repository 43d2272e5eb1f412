import ArgumentParser
import CMalloc
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Spool
import SpoolForwarding
import Synchronization

/// `spool forward`: sends a spool's entries to Loki, an HTTP/NDJSON endpoint, an OTLP collector,
/// PagerDuty, a Prometheus Pushgateway and/or the console.
struct Forward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Send the spool's entries to Loki, HTTP, OTLP, PagerDuty, a Pushgateway or the console, deleting them once delivered.",
        discussion: """
            Each destination is a sink with its own position in the spool, named by its kind \
            (loki, http, otlp, pagerduty, pushgateway, console) unless --name (one sink) or \
            --<kind>-name says otherwise. An app and a later `spool forward` using the same name \
            continue the same stream.

            PagerDuty is on when its routing key has a source (--pagerduty-routing-key-env VAR or \
            --pagerduty-routing-key-file PATH); entries at --pagerduty-min-level (default error) \
            and above are sent, one event per request, to --pagerduty-url (default \
            \(PagerDutySink.Configuration.defaultURL)). --pushgateway counts entries per level \
            and topic in the spool and PUTs the counters to /metrics/job/<job>/instance/<instance>, \
            once more on exit. --console replays entries to standard output.

            Credentials come from environment variables or files, never from the command line:
              --loki-bearer-token-env VAR | --loki-bearer-token-file PATH
              --loki-basic-user USER with --loki-basic-password-env VAR | --loki-basic-password-file PATH
            and the same with --http-; --pagerduty-routing-key-env VAR | --pagerduty-routing-key-file PATH.

            Sinks are durable: each keeps what it has not delivered, across runs. --console (a \
            replay) and every destination of a run with --once are one-off: they read for this \
            run only and hold no entry back once it ends. `spool tail` only looks.

            --stdin also stores standard input's lines (as `spool ingest` does) while forwarding. \
            --until-empty exits 0 once standard input (with --stdin) has ended and no sink has \
            anything pending, and exits 1 naming the sink when one is paused as misconfigured or \
            --timeout DURATION expires. SIGINT and SIGTERM stop claiming, let requests in flight \
            finish (at most --shutdown-grace seconds) and exit 0: nothing is lost, the next run \
            continues.

            Exit status: 0 done (or stopped by a signal), 1 failure (a sink leased by another \
            forwarder, a missing credential, a refused append, a paused sink or --timeout with \
            --until-empty, a configuration without sinks), 2 usage error.

            Example:
              export LOKI_TOKEN=...
              tail -f app.log | spool forward --spool app.spool --stdin \\
                --loki https://loki.example.net --loki-label service=billing --loki-bearer-token-env LOKI_TOKEN
            """
    )

    @OptionGroup var spoolPath: OptionalSpoolPathOption

    @Option(help: ArgumentHelp("A YAML configuration file with the spool and its sinks (docs/configuration.md); replaces the destination options.", valueName: "file"))
    var config: String?

    // MARK: - Destinations

    @Option(help: ArgumentHelp("Loki's base URL; /loki/api/v1/push is appended.", valueName: "url"))
    var loki: String?

    @Option(name: .customLong("loki-label"), help: ArgumentHelp("A static Loki label (repeatable).", valueName: "name=value"))
    var lokiLabels: [String] = []

    @Option(help: ArgumentHelp("The Loki tenant (X-Scope-OrgID).", valueName: "tenant"))
    var lokiTenant: String?

    @Flag(help: "Make the topic a Loki label (only for a few, stable topics; default: structured metadata).")
    var lokiTopicLabel = false

    @Option(help: "What a Loki line holds: message, or json (message, topic, context, schema).")
    var lokiLine = LokiLineArgument.message

    @Option(help: ArgumentHelp("A URL every batch is POSTed to as NDJSON.", valueName: "url"))
    var http: String?

    @Option(help: ArgumentHelp("The sink's name (only with one destination).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("The Loki sink's name (default: loki).", valueName: "name"))
    var lokiName: String?

    @Option(help: ArgumentHelp("The HTTP sink's name (default: http).", valueName: "name"))
    var httpName: String?

    @OptionGroup(title: "More destinations") var sinks: SinkOptions

    @OptionGroup(title: "Credentials") var credentials: CredentialOptions

    // MARK: - Input and ending

    @Flag(help: "Also store standard input's lines, as `spool ingest` does, while forwarding.")
    var stdin = false

    @Option(help: "With --stdin: the topic of lines that name none (default: ingest).")
    var topic: String?

    @Option(help: ArgumentHelp("With --stdin: the level of lines that name none, and of lines stored raw (default: info).", valueName: "level"))
    var level: LevelArgument?

    @Option(help: "With --stdin: text (the line is the message), json (an object per line) or logfmt (key=value pairs).")
    var format: LineParser.Format?

    @Option(name: .customLong("field"), help: ArgumentHelp("With --stdin: another name for a field, tried first (repeatable): message=NAME, time=NAME, level=NAME or topic=NAME.", valueName: "role=name"))
    var fields: [FieldArgument] = []

    @Flag(help: "Exit once standard input (with --stdin) has ended and nothing is pending.")
    var untilEmpty = false

    @Flag(help: "Wait for a sink leased by another forwarder instead of failing.")
    var waitForLease = false

    @Flag(help: "One-off: every destination reads for this run only and holds no entry back once it ends (--console always does).")
    var once = false

    @Option(help: ArgumentHelp("With --until-empty: give up after this long (500ms, 30s, 5m) and exit 1, naming the sinks with entries pending.", valueName: "duration"),
            transform: Forward.duration)
    var timeout: Duration?

    // MARK: - Watching

    @Option(help: ArgumentHelp("Serve GET /metrics (Prometheus) and GET /health here: HOST:PORT, or :PORT or PORT for 127.0.0.1 (port 0: any free port). Default: not served.", valueName: "address"))
    var metricsAddress: String?

    @Option(help: ArgumentHelp("/health answers 503 once a sink's attempts have failed without a break for this long (default 60s).", valueName: "duration"),
            transform: Forward.duration)
    var unhealthyAfter: Duration?

    @Option(help: ArgumentHelp("When stderr is not a terminal, print a summary line this often (default 1m; 0: never).", valueName: "duration"),
            transform: Forward.durationOrZero)
    var statusInterval: Duration?

    // MARK: - Batching

    @Option(help: ArgumentHelp("Most entries per request (a request also stops at 1 MiB).", valueName: "n"))
    var batchSize = SinkScheduler.Configuration.defaultMaxBatchEntries

    @Option(help: ArgumentHelp("Batches in flight per sink; 1 gives strict order.", valueName: "n"))
    var maxInFlight = Forward.tuningDefaults.maxInFlight

    @Option(help: ArgumentHelp("How long a partial batch waits for more entries, in ms.", valueName: "ms"))
    var maxBatchWait = Forward.tuningDefaults.maxBatchWait

    @Option(help: ArgumentHelp("Seconds requests in flight may finish after SIGINT/SIGTERM.", valueName: "s"))
    var shutdownGrace = 5.0

    @Option(help: ArgumentHelp("After this many entries in a row rejected for good, pause the sink as misconfigured instead of dead-lettering the rest (0: never).", valueName: "n"))
    var pauseAfterRejections = Forward.tuningDefaults.pauseAfterRejections

    // MARK: - For tests: short waits instead of the production schedule

    @Option(help: .hidden) var retryBaseMs: Int?
    @Option(help: .hidden) var leaseMs: Int?
    @Option(help: .hidden) var requestTimeoutMs: Int?
    @Option(help: .hidden) var pollMs: Int?

    /// For `--timeout`: a duration with its unit.
    static func duration(_ text: String) throws -> Duration {
        guard let value = ConfigurationUnits.duration(text), value > .zero else {
            throw TimeArgument.Refusal("expected a duration with its unit, such as 500ms, 30s or 5m")
        }
        return value
    }

    /// For `--status-interval`: a duration with its unit, or 0.
    static func durationOrZero(_ text: String) throws -> Duration {
        if text.trimmingCharacters(in: .whitespaces) == "0" { return .zero }
        guard let value = ConfigurationUnits.duration(text), value >= .zero else {
            throw TimeArgument.Refusal("expected a duration with its unit, such as 30s or 5m, or 0 for never")
        }
        return value
    }

    /// Whether a --loki-… option (a label, the tenant, the line, a credential…) was given.
    var givesLokiOptions: Bool {
        !lokiLabels.isEmpty || lokiTenant != nil || lokiTopicLabel || lokiLine != .message || lokiName != nil || credentials.givesLoki
    }

    /// Whether an --http-… option (its name, a credential) was given.
    var givesHTTPOptions: Bool { httpName != nil || credentials.givesHTTP }

    /// The batching options' defaults, to tell whether one was given with `--config`.
    static let tuningDefaults = (batchSize: SinkScheduler.Configuration.defaultMaxBatchEntries, maxInFlight: 2, maxBatchWait: 1000,
                                 pauseAfterRejections: 100)

    func validate() throws {
        if let metricsAddress {
            do {
                _ = try MetricsAddress(parsing: metricsAddress)
            } catch {
                throw ValidationError("--metrics-address: \(error.message)")
            }
        }
        if timeout != nil && !untilEmpty { throw ValidationError("--timeout bounds --until-empty; add --until-empty.") }
        if stdin { try IngestSettings.validate(topic: topic, fields: fields, format: format, config: config) }
        if once && sinks.pushgateway != nil {
            throw ValidationError("--once cannot apply to --pushgateway: its counters are kept in the spool under the sink's name, which a one-off sink does not keep.")
        }
        if config == nil { _ = try spoolPath.resolved() }
        if config != nil {
            guard destinationCount == 0, name == nil else {
                throw ValidationError("--config names the sinks; drop the destination options (--loki, --http…) or the --config.")
            }
            // The file describes each sink, its batching included: options that say the same
            // would be ignored without a word (--batch-size 5 sent one request of 26).
            let defaults = Forward.tuningDefaults
            if batchSize != defaults.batchSize || maxInFlight != defaults.maxInFlight || maxBatchWait != defaults.maxBatchWait
                || pauseAfterRejections != defaults.pauseAfterRejections {
                throw ValidationError("--config describes each sink's batching: write batch_size, max_in_flight, batch_wait or pause_after_rejections under the sink in the file (docs/configuration.md), not --batch-size, --max-in-flight, --max-batch-wait or --pause-after-rejections.")
            }
            if givesLokiOptions || givesHTTPOptions || sinks.givesOptions {
                throw ValidationError("--config names the sinks and their settings: write them under the sink in the file (docs/configuration.md), not as --loki-…, --http-…, --otlp-…, --pagerduty-…, --job, --instance or --console-… options.")
            }
            return
        }
        try Self.refuseCredentialsInURLs([
            ("--loki", "loki", loki), ("--http", "http", http), ("--otlp", nil, sinks.otlp),
            ("--pushgateway", nil, sinks.pushgateway), ("--pagerduty-url", nil, sinks.pagerdutyURL),
        ])
        guard destinationCount > 0 else {
            throw ValidationError("Name a destination: --loki, --http, --otlp, --pushgateway URL, --pagerduty-routing-key-env VAR or --console.")
        }
        if name != nil && destinationCount > 1 {
            throw ValidationError("--name names the only sink; with several, use --<kind>-name (--loki-name, --http-name…).")
        }
        let kindNames = [lokiName, httpName, sinks.otlpName, sinks.pagerdutyName, sinks.pushgatewayName, sinks.consoleName]
        if name != nil && kindNames.contains(where: { $0 != nil }) {
            throw ValidationError("Use either --name or --<kind>-name.")
        }
        for given in [name] + kindNames {
            // The configuration file's rule: no `:`, so never a reserved one-off name, whose
            // sink (and its undelivered entries) the next forward would remove.
            if let given, !SpoolConfiguration.isSinkName(given) {
                throw ValidationError("'\(given)': \(SpoolConfiguration.sinkNameRule).")
            }
        }
        // A sink's options without that sink would be dropped without a word: a bearer token
        // given as --http-… to a --loki run would leave Loki's requests unauthenticated.
        if loki == nil && givesLokiOptions {
            throw ValidationError("--loki-label, --loki-tenant, --loki-topic-label, --loki-line, --loki-name and the --loki-… credentials only apply with --loki URL.")
        }
        if http == nil && givesHTTPOptions {
            throw ValidationError("--http-name and the --http-… credentials only apply with --http URL.")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1.") }
        guard maxInFlight >= 1 else { throw ValidationError("--max-in-flight must be at least 1.") }
        guard maxBatchWait >= 0 else { throw ValidationError("--max-batch-wait must not be negative.") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must not be negative.") }
        guard pauseAfterRejections >= 0 else { throw ValidationError("--pause-after-rejections must not be negative.") }
        for label in lokiLabels where !label.contains("=") {
            throw ValidationError("--loki-label takes name=value, not '\(label)'.")
        }
        if !stdin && (format != nil || topic != nil || level != nil || !fields.isEmpty) {
            throw ValidationError("--format, --topic, --level and --field describe --stdin lines; add --stdin.")
        }
        try credentials.validate()
        try sinks.validate(pagerDutyEnabled: credentials.pagerDutyEnabled)
    }

    /// A URL with `user:password@` would show in `ps` and its credentials would not be sent
    /// (the transport sends only the headers Spool sets): refused, naming the options to use.
    /// The URL is not repeated, since it holds a password.
    static func refuseCredentialsInURLs(_ options: [(option: String, kind: String?, url: String?)]) throws {
        for (option, kind, url) in options {
            guard let url, let components = URLComponents(string: url), components.user != nil || components.password != nil else { continue }
            let instead = kind.map {
                "--\($0)-basic-user USER with --\($0)-basic-password-env VAR (or --\($0)-basic-password-file PATH), or --\($0)-bearer-token-env VAR"
            } ?? "a configuration file (--config) with credentials: {basic: {username: USER, password_env: VAR}}"
            throw ValidationError("\(option): the URL has a user name or password in it (not shown here); they would not be sent, and a command line shows in `ps`. Remove them from the URL and use \(instead).")
        }
        // As in a configuration file: a secret in the query would be printed in the start-up
        // line and show in `ps`.
        for (option, _, url) in options {
            guard let url, let item = URLComponents(string: url)?.queryItems?.first(where: { InlineSecret.names.contains($0.name.lowercased()) })
            else { continue }
            throw ValidationError("\(option): the URL's query has a secret ('\(item.name)', value not shown), which would be printed and shows in `ps`; send it as a header from a configuration file (--config) with credentials: {headers: {Header-Name: {env: VARIABLE}}}.")
        }
    }

    /// One malloc arena for the whole process instead of glibc's up to 8 per core: the
    /// forwarder's threads (NIO's, the concurrency pool, the checkpointer) allocate little at a
    /// time, and each arena keeps what was freed in it. Measured draining a backlog: 1.0–1.3 MiB
    /// less peak RSS, the same rate (BENCHMARKS.md, "Peak RSS of `spool forward`"). Called by
    /// `main` before any other thread exists: a thread keeps the arena it first allocated in.
    /// Not for other commands: eight appending threads (`bench append`) were slower with one.
    static func limitMallocArenas() {
        _ = spool_limit_malloc_arenas(1)
    }

    func run() async throws {
        let plan = try config.map(planFromConfiguration) ?? planFromOptions()
        let store = plan.store
        // The metrics endpoint is bound before anything is sent: an address in use fails the run.
        let watched = watchingSettings(plan.file)
        let metrics: (factory: SpoolMetricsFactory, exporter: MetricsExporter, endpoint: MetricsEndpoint)?
        do {
            metrics = try watched.address.map { address in
                let factory = Self.bootstrapMetrics()
                let exporter = MetricsExporter(store: store, factory: factory, unhealthyAfter: watched.unhealthyAfter)
                return (factory, exporter, try MetricsEndpoint(address: address, exporter: exporter))
            }
        } catch {
            try? store.close()
            throw error
        }
        defer { metrics?.endpoint.shutdown() }
        var destinations = plan.destinations
        let owner = LeaseOwner.thisProcess("spool forward")

        // One-off sinks (the console replay, everything with --once) read for this run only.
        OneOffSinks.removeStale(in: store)
        if once { for index in destinations.indices { destinations[index].oneOff = true } }
        let hold = destinations.contains(where: \.oneOff) ? OneOffSinks.holdName : nil
        var configurations: [SinkScheduler.Configuration] = []
        do {
            if let hold { try store.registerSink(hold) }
            for destination in destinations {
                var configuration = destination.scheduling ?? schedulerConfiguration(for: destination)
                if destination.oneOff { configuration.name = OneOffSinks.registeredName(destination.name) }
                try store.registerSink(configuration.name)
                configurations.append(configuration)
                try await takeLease(store: store, sink: configuration.name, owner: owner, duration: configuration.lease)
            }
        } catch {
            OneOffSinks.remove(zip(destinations, configurations).filter(\.0.oneOff).map(\.1.name), hold: hold, from: store)
            try? store.close()
            throw error
        }

        var transportConfiguration = plan.transport
        if let requestTimeoutMs { transportConfiguration.requestTimeout = .milliseconds(requestTimeoutMs) }
        let transport = Transport(configuration: transportConfiguration)
        let schedulers = zip(destinations, configurations).map { destination, configuration in
            var configuration = configuration
            if let metrics { configuration.metricsFactory = metrics.factory }
            return SinkScheduler(store: store, sink: destination.sink, transport: transport, configuration: configuration, owner: owner)
        }
        metrics?.exporter.watch(zip(destinations, zip(configurations, schedulers)).map { destination, pair in
            .init(name: destination.name, registeredName: pair.0.name, scheduler: pair.1)
        })
        // A Pushgateway sink's pusher runs in the forwarder, as with makeForwarder: it pushes
        // while the schedulers run and once more after them, within the grace period.
        let forwarder = Forwarder(schedulers: schedulers, transport: transport,
                                  shutdownGracePeriod: .milliseconds(Int64(shutdownGrace * 1000)),
                                  pushers: destinations.compactMap { $0.companion?(transport) })
        // `--field` against the configuration file's format was checked before the spool opened.
        let ingestSettings = IngestSettings(file: plan.file?.ingest, format: format, topic: topic, level: level, fields: fields)
        let ingester = stdin
            ? LineIngester(store: store, parser: ingestSettings.parser(maximumMessageBytes: store.configuration.maximumMessageBytes),
                           redaction: plan.file?.redaction ?? Redaction())
            : nil
        let service = ForwardService(store: store, forwarder: forwarder, names: configurations.map(\.name), ingester: ingester, untilEmpty: untilEmpty,
                                     showsStatus: untilEmpty && isatty(2) == 1)
        // The store's background work first: a service group stops services in reverse order,
        // so the store's checkpoints and buffered committer (the --stdin lines) stop after the
        // forwarder has settled its last batch.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: SpoolStoreService(store)),
                       .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "spool.forward", factory: { _ in SwiftLogNoOpLogHandler() })))

        var line = startLine(path: store.path, destinations: destinations)
        if let metrics { line += "; metrics on http://\(metrics.endpoint.boundAddress)/metrics and /health" }
        Diagnostics.note(line)
        // Under a service manager (stderr not a terminal): a summary line per interval.
        var reporting: Task<Void, Never>?
        if let interval = watched.statusInterval, isatty(2) != 1 {
            var sinks: [ForwardStatusReport.Sink] = []
            for (destination, (configuration, scheduler)) in zip(destinations, zip(configurations, schedulers)) {
                let registered = configuration.name
                sinks.append(.init(name: destination.name, scheduler: scheduler, backlog: { try? store.backlog(of: registered) }))
            }
            let report = ForwardStatusReport(sinks: sinks, interval: interval)
            reporting = Task { await report.run() }
        }
        defer { reporting?.cancel() }
        let watchdog = Watchdog(names: destinations.map(\.name), schedulers: schedulers, timeout: untilEmpty ? timeout : nil,
                                watchesPauses: untilEmpty)
        let watching = Task { await watchdog.run(stopping: group) }
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        watching.cancel()
        let ending = watchdog.ending
        var pending: [(name: String, count: Int64)] = []
        if ending != nil {
            for (destination, configuration) in zip(destinations, configurations) {
                if let backlog = try? store.backlog(of: configuration.name), backlog.entries > 0 { pending.append((destination.name, backlog.entries)) }
            }
        }
        reporting?.cancel()
        metrics?.endpoint.shutdown()  // before the spool closes: no scrape reads it after
        OneOffSinks.remove(zip(destinations, configurations).filter(\.0.oneOff).map(\.1.name), hold: hold, from: store)
        try? await transport.shutdown()
        try? store.close()
        if let summary = service.ingestSummary {
            LineIngester.reportSummary(summary, format: ingestSettings.format)
            // Whatever was dropped or refused is said in one line, and the exit status is not 0.
            if let line = LineIngester.lossLine(summary, drops: store.droppedSinceOpen, failed: failure != nil) {
                Diagnostics.error(line)
                if failure == nil && ending == nil { throw ExitCode.failure }
            }
        }
        if let failure { throw failure }
        if let ending { throw ending.error(pending: pending, timeout: timeout) }
        if untilEmpty, let problem = Watchdog.undeliveredCounters(forwarder.pushers) { throw problem }
    }

    /// The metrics address, the health threshold and the status interval: the options, else
    /// the configuration file's `metrics` section, else the defaults.
    private func watchingSettings(_ file: SpoolConfiguration?) -> (address: MetricsAddress?, unhealthyAfter: Duration, statusInterval: Duration?) {
        let defaults = file?.metrics ?? SpoolConfiguration.Metrics()
        // Parsed by `validate()` already.
        let address = metricsAddress.flatMap { try? MetricsAddress(parsing: $0) } ?? defaults.address
        let interval = statusInterval.map { $0 == .zero ? nil : $0 } ?? defaults.statusInterval
        return (address, unhealthyAfter ?? defaults.unhealthyAfter, interval)
    }

    private static let metricsBootstrapped = Atomic<Bool>(false)

    /// The process's swift-metrics backend: bootstrapped here, in the executable, only when
    /// metrics are served (never by the library), and once, as swift-metrics requires.
    private static func bootstrapMetrics() -> SpoolMetricsFactory {
        let factory = SpoolMetricsFactory()
        if !metricsBootstrapped.exchange(true, ordering: .acquiringAndReleasing) {
            MetricsSystem.bootstrap(factory)
        }
        return factory
    }

    /// The line that says, before anything is sent, what is forwarded where.
    private func startLine(path: String, destinations: [Destination]) -> String {
        let targets = destinations.map { destination in
            "\(destination.name) (\(destination.target)\(destination.oneOff ? ", one-off" : ""))"
        }.joined(separator: ", ")
        var line = "forwarding \(path)\(stdin ? " and standard input" : "") to \(targets)"
        if untilEmpty { line += "; until nothing is pending" + (timeout.map { ", at most \(Self.describe($0))" } ?? "") }
        return line
    }

    static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1000
        return seconds % 60 == 0 && seconds > 0 ? "\(seconds / 60)m" : "\(seconds)s"
    }

    // MARK: - Leases

    /// Takes the sink's lease before anything starts, so a second forwarder fails at once with
    /// the holder and the expiry (or, with --wait-for-lease, waits for it).
    private func takeLease(store: SpoolStore, sink: String, owner: String, duration: Duration) async throws {
        var announced = false
        while true {
            let held: SpoolError
            do {
                try store.acquireLease(sink: sink, owner: owner, duration: duration)
                return
            } catch {
                held = error
            }
            guard held.code == .leaseHeld && waitForLease else { throw held }
            if !announced {
                Diagnostics.warning("\(held.message); waiting (--wait-for-lease)")
                announced = true
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// This machine's name, for one-off sink names (no DNS lookup).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A `--loki-line` value.
enum LokiLineArgument: String, ExpressibleByArgument, CaseIterable {
    case message, json

    var format: LokiSink.Configuration.LineFormat { self == .json ? .json : .message }
}
