import Spool

/// A Spool deployment's configuration, loaded from the YAML document that `spool forward --config`
/// reads: where the spool lives and how it is written, what the logger redacts, how requests are
/// sent, and the named sinks entries are forwarded to.
///
/// The document is the one way to configure forwarding: every key and its default is documented
/// in `docs/configuration.md`, and `spool validate FILE` checks a file exactly as this type loads it.
///
/// ```swift
/// let configuration = try SpoolConfiguration(contentsOfFile: "/etc/billing/spool.yaml")
/// let store = try configuration.openStore()
/// let forwarder = try configuration.makeForwarder(store: store, name: "billing")
/// ```
///
/// Secrets are never values of the configuration: the document names an environment variable or
/// a file, read only when the forwarder is made.
public struct SpoolConfiguration: Sendable {
    /// The spool file (file key `spool.path`). No default.
    public var spoolPath: String
    /// How the spool is opened and written: durability, size bound, overflow policy (file keys
    /// under `spool`). Default: `SpoolStore.Configuration()`.
    public var store: SpoolStore.Configuration
    /// Which context keys a logger hides. Default ``Redaction/defaultKeys``, marker `"[REDACTED]"`.
    package var redaction: Redaction
    /// Timeouts, gzip and the concurrency limit of the one transport shared by every sink.
    /// Default ``Transport/Configuration/init()``.
    package var transport: Transport.Configuration
    /// The sinks, in the order they were written. Default: none.
    package var sinks: [Sink]
    /// How `spool ingest` and `spool forward --stdin` read lines. Default ``Ingest/init(format:topic:level:fields:)``.
    package var ingest: Ingest
    /// How `spool forward` is watched: `/metrics` and `/health`, the status line. Default
    /// ``Metrics/init()`` (no endpoint, a status line a minute when stderr is not a terminal).
    package var metrics: Metrics

    /// A configuration with every default and no sink.
    /// - Parameter spoolPath: The spool file.
    package init(spoolPath: String) {
        self.spoolPath = spoolPath
        store = SpoolStore.Configuration()
        redaction = Redaction()
        transport = Transport.Configuration()
        sinks = []
        ingest = Ingest()
        metrics = Metrics()
    }

    /// The logger configuration this file describes: the defaults with ``redaction``.
    package var loggerConfiguration: SpoolLogger.Configuration {
        var configuration = SpoolLogger.Configuration()
        configuration.redaction = redaction
        return configuration
    }
}

// MARK: - Sinks

extension SpoolConfiguration {
    /// One named destination: what it speaks, which entries it takes, how they are batched and
    /// sent, and where its credentials come from.
    package struct Sink: Sendable {
        /// The protocol and its options.
        package enum Destination: Sendable, Hashable {
            /// Grafana Loki's push API (file type `loki`).
            case loki(LokiSink.Configuration)
            /// Newline-delimited JSON to any URL (file type `http`).
            case http(NDJSONSink.Configuration)
            /// OpenTelemetry logs over OTLP/HTTP (file type `otlp`).
            case otlp(OTLPSink.Configuration)
            /// PagerDuty Events v2 (file type `pagerduty`). The configuration's `routingKey` is
            /// ignored: it is replaced by `routingKey`, read when the sink is built.
            case pagerDuty(PagerDutySink.Configuration, routingKey: Secret)
            /// Counters per level and topic, kept in the spool and pushed to a Prometheus
            /// Pushgateway (file type `pushgateway`). The sink needs the open spool
            /// (``SpoolConfiguration/makeSinks(store:environment:readFile:)``), and its pusher
            /// runs beside the forwarder (``ResolvedSink/companion``).
            case pushgateway(PushgatewaySink.Configuration)
            /// Lines on standard output or another stream (file type `console`).
            case console(ConsoleSink.Configuration)

            /// The file's name for this type: `loki`, `http`, `otlp`, `pagerduty`, `pushgateway`
            /// or `console`.
            package var typeName: String {
                switch self {
                case .loki: "loki"
                case .http: "http"
                case .otlp: "otlp"
                case .pagerDuty: "pagerduty"
                case .pushgateway: "pushgateway"
                case .console: "console"
                }
            }
        }

        /// Batching, pipelining, lease, retry, breaker and rate limit. Its `name` is the sink's
        /// name (its position in the spool); its `credentials` are replaced by the resolved
        /// ``credentials`` when the sink is built. Default ``SinkScheduler/Configuration/init(name:)``.
        package var scheduling: SinkScheduler.Configuration
        /// What the sink speaks. No default.
        package var destination: Destination
        /// Entries below this level are acknowledged without being sent. Default
        /// ``LogLevel/trace`` (everything); for PagerDuty the sink's own `minimumLevel`
        /// (default ``LogLevel/error``) applies as well.
        package var minimumLevel: LogLevel
        /// Headers with secrets, read when the sink is built. Default: none.
        package var credentials: Credentials

        /// The sink's name: its position in the spool and its metrics label.
        package var name: String {
            get { scheduling.name }
            set { scheduling.name = newValue }
        }

        /// A sink with the default scheduling, every level and no credentials. A PagerDuty sink
        /// gets ``PagerDutySink/defaultRateLimit`` (PagerDuty's per-key limit), as from the CLI.
        /// - Parameters:
        ///   - name: The sink's name, unique in a configuration.
        ///   - destination: What the sink speaks.
        package init(name: String, destination: Destination) {
            scheduling = SinkScheduler.Configuration(name: name)
            if case .pagerDuty = destination { scheduling.rateLimit = PagerDutySink.defaultRateLimit }
            self.destination = destination
            minimumLevel = .trace
            credentials = Credentials()
        }
    }

    /// Where a secret is read from. The configuration holds the source, never the value, so no
    /// configuration value and no error message can show it.
    package enum Secret: Sendable, Hashable, CustomStringConvertible {
        /// An environment variable, by name (file form: `password_env: VAR`).
        case environment(String)
        /// A file whose contents, without trailing line breaks, are the secret (file form:
        /// `password_file: PATH`), e.g. a Kubernetes or Docker secret.
        case file(String)
        /// A value supplied by code, e.g. from a secret manager. A configuration file cannot
        /// produce it. Never printed.
        case value(String)

        /// `env LOKI_TOKEN`, `file /run/secrets/x` or `<value>`: never the secret itself.
        package var description: String {
            switch self {
            case .environment(let name): "env \(name)"
            case .file(let path): "file \(path)"
            case .value: "<value>"
            }
        }
    }

    /// The credential headers of one sink, each from a ``Secret``. Basic and bearer both set
    /// `Authorization`, so at most one of them is given, and then `headers` has no
    /// `Authorization`.
    package struct Credentials: Sendable, Hashable {
        /// HTTP basic authentication: a user name written in the file and a secret password.
        package struct Basic: Sendable, Hashable {
            /// The user name (not a secret; Loki's tenant id on Grafana Cloud).
            package var username: String
            /// The password.
            package var password: Secret

            /// - Parameters:
            ///   - username: The user name.
            ///   - password: Where the password is read from.
            package init(username: String, password: Secret) {
                self.username = username
                self.password = password
            }
        }

        /// `Authorization: Basic …`. Default: none.
        package var basic: Basic?
        /// `Authorization: Bearer <token>`. Default: none.
        package var bearer: Secret?
        /// Other headers whose values are secrets (`X-API-Key`…), by header name. Default: none.
        package var headers: [String: Secret]

        /// No credentials.
        package init(basic: Basic? = nil, bearer: Secret? = nil, headers: [String: Secret] = [:]) {
            self.basic = basic
            self.bearer = bearer
            self.headers = headers
        }

        /// Whether any credential is configured.
        package var isEmpty: Bool { basic == nil && bearer == nil && headers.isEmpty }
    }
}

extension SpoolConfiguration {
    /// Whether `name` may name a sink: 1 to 64 ASCII letters, digits, `_`, `-` or `.`, in a
    /// configuration file and on the command line alike. A `:` is never one of them, so no
    /// name given can collide with the reserved one-off names (`spool-once:…`).
    package static func isSinkName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    /// What ``isSinkName(_:)`` requires, in words.
    package static let sinkNameRule = "a sink name is 1 to 64 letters, digits, '_', '-' or '.'"
}
