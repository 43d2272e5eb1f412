import ArgumentParser
import Foundation
import Synchronization
import Spool

/// `spool ingest`: standard input, one entry per line, committed to a spool.
struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Store each line of standard input as one log entry.",
        discussion: """
            Every line becomes one entry; the command exits 0 once every line is committed \
            (in buffered mode too: it flushes before exiting). Lines are committed as soon as \
            they are read, in batches of whatever input is waiting, so `tail -f app.log | spool \
            ingest` stores each line as it arrives.

            --format text (the default): the line is the message, with --level and --topic. \
            Empty lines are skipped.

            --format json: each line is one object with these fields:
              message    required: a string
              level      trace, debug, info, notice, warning (or warn),
                         error, critical (or fatal); default --level
              topic      a string; default --topic
              timestamp  Unix time in s, ms, µs or ns, told apart by magnitude:
                         below 1e11 s, below 1e14 ms, below 1e17 µs, else ns;
                         default: the time the line is read
              context    an object; any other value is kept as
                         {"_value": value}, with a warning on stderr
            Other fields are added to the context. Blank lines are skipped.

            Input is read as bytes: bytes that are not UTF-8 are stored as U+FFFD, a trailing \
            CR is removed, a last line without a newline counts, and messages longer than \
            256 KiB are cut with a visible "…[truncated: N bytes]" marker.

            A malformed line is reported on stderr with its line number and the reason, and \
            skipped; every other line is still stored, and the exit status is 1.

            Examples:
              tail -f /var/log/app.log | spool ingest --spool app.spool --topic app
              echo '{"message":"disk full","level":"error","timestamp":1732873200123}' |
                spool ingest --spool app.spool --format json
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Option(help: "The topic of lines that name none.")
    var topic = "ingest"

    @Option(help: ArgumentHelp("The level of lines that name none.", valueName: "level"))
    var level = LevelArgument(.info)

    @Option(help: "How each line is read: text (the line is the message) or json (an object per line).")
    var format = LineParser.Format.text

    @Option(help: """
        When a line counts as stored: committed (survives the process being killed), fsync \
        (survives power loss), buffered (committed within 200 ms; all of it before exit).
        """)
    var durability = DurabilityArgument.committed

    /// Set by SIGINT and SIGTERM.
    static let stopRequested = Atomic<Bool>(false)

    func run() throws {
        let path = try spoolPath.resolved()
        let store = try SpoolStore(path: path, configuration: SpoolStore.Configuration(durability: durability.mode))
        let ingester = LineIngester(store: store, parser: LineParser(format: format, topic: topic, level: level.level))
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
        let summary: LineIngester.Summary
        do {
            summary = try ingester.run(descriptor: 0, shouldStop: { Ingest.stopRequested.load(ordering: .relaxed) })
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        if summary.malformed > 0 {
            Diagnostics.error("\(summary.malformed) of \(summary.lines) input lines were malformed and skipped; the others are stored")
            throw ExitCode.failure
        }
    }
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
