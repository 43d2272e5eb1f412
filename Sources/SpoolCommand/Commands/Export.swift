import ArgumentParser
import Foundation
import Spool

/// `spool export`: a spool's entries (or dead letters) as JSON lines on stdout.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a spool's entries, or its dead letters, as JSON lines on stdout.",
        discussion: """
            One JSON object per line, in id order, in the shape the NDJSON sink sends \
            (EntryJSON: schema, id, ts, ts_ns, level, topic, message, context). With \
            --dead-letters, every dead letter in the same shape (id is the original entry id) \
            plus "dead_letter": {id, sink, status, reason, attempts, failed, failed_ns}.

            --since and --until select by event time: since inclusive, until exclusive. TIME \
            is ISO 8601 (2026-11-29T08:00:00Z; without a zone, local time: 2026-11-29T08:00), \
            a Unix time in s, ms, µs or ns (told apart \
            by magnitude), or a duration ago: 90s, 30m, 1h, 2d (or with a minus sign after an \
            equals sign: --since=-1h). --sink NAME exports what \
            is pending for that sink (with --dead-letters: that sink's dead letters).

            Rows are read in short chunks (at most 1000 rows or 4 MiB each) and written between \
            them: a large spool is not loaded into memory, and a slow reader of the output does \
            not hold a snapshot that would keep the spool's WAL from being checkpointed. \
            Entries appended after the export began are not included. \
            The spool is opened read-only and never created; no lease is taken. A closed \
            stdout (`| head`) ends the export with exit 0.

            Example:
              spool export --spool app.spool --since 1h > last-hour.ndjson
              spool export --spool app.spool --dead-letters --sink loki | jq '.dead_letter.reason'
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Flag(name: .customLong("dead-letters"), help: "Export the dead letters instead of the entries.")
    var deadLetters = false

    @Option(help: ArgumentHelp("Only entries whose event time is at or after TIME: \(TimeArgument.help).", valueName: "time"),
            transform: TimeArgument.transform)
    var since: TimeArgument?

    @Option(help: ArgumentHelp("Only entries whose event time is before TIME.", valueName: "time"), transform: TimeArgument.transform)
    var until: TimeArgument?

    @Option(help: ArgumentHelp("Only what is pending for this sink (its dead letters, with --dead-letters).", valueName: "name"))
    var sink: String?

    func run() throws {
        let inspector = try SpoolInspector(path: try spoolPath.resolved())
        // Everything or nothing: a damaged page could otherwise skip entries without an error.
        try inspector.verify(doing: "exported")
        var output = Output()
        do {
            if deadLetters {
                let filter = DeadLetterFilter(sink: sink, since: since?.nanoseconds, until: until?.nanoseconds)
                try inspector.forEachDeadLetter(matching: filter) { letter in
                    try output.line(letter.jsonLine)
                }
            } else {
                let filter = EntryFilter(pendingFor: sink, since: since?.nanoseconds, until: until?.nanoseconds)
                try inspector.forEachEntry(matching: filter) { entry in
                    try output.line(EntryJSON.line(entry))
                }
            }
            try output.flush()
        } catch where output.isClosed {
            // The reader has gone: nothing more to do.
        }
    }
}
