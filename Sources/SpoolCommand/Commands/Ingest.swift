import ArgumentParser
import Foundation
import Synchronization
import Spool
import SpoolForwarding

/// `spool ingest`: standard input, one entry per line, committed to a spool.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Store each line of standard input as one log entry.",
        discussion: """
            Every line that is not blank becomes one entry; the command exits 0 once every line \
            is committed (in buffered mode too: it flushes before exiting). Lines are committed \
            as soon as they are read, in batches of whatever input is waiting, so `tail -f \
            app.log | spool ingest` stores each line as it arrives.

            --format text (the default): the line is the message, with --level and --topic.

            --format json: one object per line, as pino, bunyan, zap, slog, logrus, structlog, \
            python-json-logger, winston, ECS, Serilog CLEF, Google Cloud, Docker and journald \
            write it. --format logfmt: key=value pairs (key="quoted value").
              message  message, msg, event, @m, @mt, MESSAGE, log
              time     timestamp, time, ts, @timestamp, @t, asctime,
                       __REALTIME_TIMESTAMP: ISO 8601 / RFC 3339 (no zone:
                       local time), or Unix time in s, ms, µs or ns
              level    level, lvl, severity, levelname, log.level, @l,
                       PRIORITY: names (warn, fatal, dpanic, ERROR+2…) or
                       numbers (pino 10-60, syslog 0-7)
              topic    topic, logger
            --field ROLE=NAME (or ingest.fields in --config) names more fields, tried first. \
            Every other field is kept as context. A line without a message field keeps its \
            whole text as the message.

            A line that does not parse in the format is stored raw: its text is the message, \
            at --level and --topic, with the reason in its context (parse_error). Raw lines \
            are counted (`spool stats`) and summed up on stderr; nothing is skipped but blank \
            lines. Every entry's context passes the redaction of --config (default: password, \
            token, secret… replaced by "[REDACTED]").

            Input is read as bytes: bytes that are not UTF-8 are stored as U+FFFD, a UTF-8 byte \
            order mark and a trailing CR are removed, a last line without a newline counts. \
            Messages longer than the store's limit (256 KiB) are cut with a visible \
            "…[truncated: N bytes]" marker; a line is read whole up to 1 MiB, beyond that its \
            start is kept, so memory stays bounded for any line length.

            Examples:
              tail -f /var/log/app.log | spool ingest --spool app.spool --topic app
              node server.js | spool ingest --spool app.spool --format json
              echo 'level=warn msg="disk almost full" free=2GB' | spool ingest --spool app.spool --format logfmt
            """
    )

    @OptionGroup var spoolPath: OptionalSpoolPathOption

    @Option(help: ArgumentHelp("A YAML configuration file (docs/configuration.md): its spool, store settings, redaction and ingest section.", valueName: "file"))
    var config: String?

    @Option(help: "The topic of lines that name none (default: ingest).")
    var topic: String?

    @Option(help: ArgumentHelp("The level of lines that name none, and of lines stored raw (default: info).", valueName: "level"))
    var level: LevelArgument?

    @Option(help: "How each line is read: text (the line is the message), json (an object per line) or logfmt (key=value pairs).")
    var format: LineParser.Format?

    @Option(name: .customLong("field"), help: ArgumentHelp("Another name for a field, tried before the built-in ones (repeatable): message=NAME, time=NAME, level=NAME or topic=NAME.", valueName: "role=name"))
    var fields: [FieldArgument] = []

    @Option(help: """
        When a line counts as stored: committed (survives the process being killed), fsync \
        (survives power loss), buffered (committed within 200 ms; all of it before exit).
        """)
    var durability: DurabilityArgument?

    /// Set by SIGINT and SIGTERM.
    static let stopRequested = Atomic<Bool>(false)

    func validate() throws {
        if config == nil { _ = try spoolPath.resolved() }
        try IngestSettings.validate(topic: topic, fields: fields, format: format, config: config)
    }

    func run() async throws {
        let file = try config.map { try SpoolConfiguration(contentsOfFile: $0) }
        let path = try spoolPath.resolved(fallback: file?.spoolPath)
        var storeConfiguration = file?.store ?? SpoolStore.Configuration()
        if let durability { storeConfiguration.durability = durability.mode }
        storeConfiguration.report = StoreReports().report
        let settings = IngestSettings(file: file?.ingest, format: format, topic: topic, level: level, fields: fields)
        try settings.check(fieldsGiven: !fields.isEmpty)
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        let ingester = LineIngester(store: store, parser: settings.parser(maximumMessageBytes: storeConfiguration.maximumMessageBytes),
                                    redaction: file?.redaction ?? Redaction())
        // SIGINT and SIGTERM (Ctrl-C ends `tail -f | spool ingest`) stop the reading; what was
        // read is committed and the store closed, as at the end of the input. A parent may hand
        // its blocked signal mask down (Foundation's Process does): unblock the two.
        var stopping = sigset_t()
        sigemptyset(&stopping)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in Ingest.stopRequested.store(true, ordering: .relaxed) }
            sigaddset(&stopping, signalNumber)
        }
        pthread_sigmask(SIG_UNBLOCK, &stopping, nil)
        // The store's background work (checkpoints, buffered mode's timer) while the lines are
        // read on a thread of their own: a blocking read(2) must not hold a cooperative thread.
        let (summary, failure) = try await store.whileRunning { await Self.read(with: ingester) }
        if let error = failure {
            try? store.close()
            if let line = LineIngester.lossLine(summary, drops: store.droppedSinceOpen, failed: true) {
                Diagnostics.error(line)
            }
            throw error
        }
        try store.close()
        LineIngester.reportSummary(summary, format: settings.format)
        // Whatever was dropped or refused is said in one line, and the exit status is not 0.
        if let line = LineIngester.lossLine(summary, drops: store.droppedSinceOpen, failed: false) {
            Diagnostics.error(line)
            throw ExitCode.failure
        }
    }
}

extension Ingest {
    /// Reads standard input into the spool on a thread of its own; the counts are kept also
    /// when an append fails (the closing line says what was lost).
    static func read(with ingester: LineIngester) async -> (LineIngester.Summary, SpoolError?) {
        // Releases the ingester (and so the store) before this returns: the store must end,
        // and its last connection move the WAL into the file, before the process exits.
        await OwnThread.run {
            var summary = LineIngester.Summary()
            do throws(SpoolError) {
                try ingester.run(descriptor: 0, shouldStop: { Ingest.stopRequested.load(ordering: .relaxed) }, into: &summary)
                return (summary, nil)
            } catch {
                return (summary, error)
            }
        }
    }
}

/// How lines are read: the command line's options over the configuration file's `ingest`
/// section over the defaults. Shared by `ingest` and `forward --stdin`.
struct IngestSettings {
    var format: LineParser.Format
    var topic: String
    var level: LogLevel
    var fields: SpoolConfiguration.Ingest.Fields

    init(file: SpoolConfiguration.Ingest?, format: LineParser.Format?, topic: String?, level: LevelArgument?, fields: [FieldArgument]) {
        let base = file ?? SpoolConfiguration.Ingest()
        self.format = format ?? base.format
        self.topic = topic ?? base.topic
        self.level = level?.level ?? base.level
        var names = SpoolConfiguration.Ingest.Fields()
        for field in fields {
            switch field.role {
            case .message: names.message.append(field.name)
            case .time: names.time.append(field.name)
            case .level: names.level.append(field.name)
            case .topic: names.topic.append(field.name)
            }
        }
        // The command line's names first, then the file's.
        names.message += base.fields.message
        names.time += base.fields.time
        names.level += base.fields.level
        names.topic += base.fields.topic
        self.fields = names
    }

    /// Refuses the line options that would be silently ignored or make entries no query finds:
    /// an empty `--topic`, and `--field` with lines read as text (which have no fields) when
    /// the command line alone says so (usage error, exit 2).
    static func validate(topic: String?, fields: [FieldArgument], format: LineParser.Format?, config: String?) throws {
        if topic?.isEmpty == true { throw ValidationError("--topic must not be empty (the default is ingest).") }
        if !fields.isEmpty && (format == .text || (format == nil && config == nil)) {
            throw ValidationError("--field names fields of --format json or --format logfmt; lines read as text have none.")
        }
    }

    /// The same once a configuration file has given the format: `--field` with text lines is
    /// refused (exit 1: the file and the command line do not fit).
    func check(fieldsGiven: Bool) throws(SpoolError) {
        if fieldsGiven && format == .text {
            throw SpoolError(.configuration, "--field names fields of json or logfmt lines, and the configuration's ingest.format is text: give --format json or --format logfmt")
        }
    }

    func parser(maximumMessageBytes: Int) -> LineParser {
        LineParser(format: format, topic: topic, level: level, extraFields: fields, maximumMessageBytes: maximumMessageBytes)
    }
}

/// A `--field ROLE=NAME` value.
struct FieldArgument: ExpressibleByArgument {
    enum Role: String, CaseIterable { case message, time, level, topic }

    var role: Role
    var name: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), let role = Role(rawValue: String(argument[..<equals])) else { return nil }
        name = String(argument[argument.index(after: equals)...])
        guard !name.isEmpty else { return nil }
        self.role = role
    }

    static var allValueStrings: [String] { Role.allCases.map { "\($0.rawValue)=NAME" } }
}

/// A `--level` value: a level name, `warn` and `fatal` accepted.
struct LevelArgument: ExpressibleByArgument {
    var level: LogLevel

    init(_ level: LogLevel) { self.level = level }

    init?(argument: String) {
        guard let level = LogLevel(parsing: argument) else { return nil }
        self.level = level
    }

    var defaultValueDescription: String { level.rawValue }
    static var allValueStrings: [String] { LogLevel.allCases.map(\.rawValue) }
}

/// A `--durability` value.
enum DurabilityArgument: String, ExpressibleByArgument, CaseIterable {
    case committed, fsync, buffered

    var mode: SpoolStore.Durability {
        // The names are the store's own; parsing them cannot fail.
        SpoolStore.Durability(parsing: rawValue) ?? .committed
    }
}
