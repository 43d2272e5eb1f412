import ArgumentParser
import Foundation
import Spool

/// `spool dlq`: what destinations rejected for good, and what to do with it.
struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List, requeue or purge dead letters (entries a destination rejected for good).",
        discussion: """
            --sink, --id (repeatable: dead letter ids, the first column of `list`) and --status \
            (the HTTP status) select the dead letters; with none, all of them.

            Example:
              spool dlq list --spool app.spool --sink loki
              spool dlq requeue --spool app.spool --sink loki --status 400
              spool dlq purge --spool app.spool --sink loki --yes
            """,
        subcommands: [List.self, Requeue.self, Purge.self]
    )

    /// The selection every dlq subcommand takes.
    struct Selection: ParsableArguments {
        @Option(help: ArgumentHelp("Only this sink's dead letters.", valueName: "name"))
        var sink: String?

        @Option(name: .customLong("id"), parsing: .upToNextOption, help: ArgumentHelp("Only these dead letter ids.", valueName: "id"))
        var ids: [Int64] = []

        @Option(help: ArgumentHelp("Only those rejected with this HTTP status.", valueName: "code"))
        var status: Int?

        var filter: DeadLetterFilter { DeadLetterFilter(sink: sink, ids: ids, status: status) }

        /// Refuses a sink or ids the spool at `path` does not have (exit 1), before anything
        /// is read or changed.
        func check(_ inspector: SpoolInspector) throws {
            try inspector.checkDeadLetterSelection(sink: sink, ids: ids)
        }
    }

    // MARK: - list

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters: id, sink, original entry, status, attempts, reason.",
            discussion: """
                By sink, then in the original order. --json prints one line per dead letter in \
                the shape of `spool export --dead-letters`. Read-only.

                Example:
                  spool dlq list --spool app.spool --status 400
                """
        )

        @OptionGroup var spoolPath: SpoolPathOption
        @OptionGroup var selection: Selection
        @Flag(help: "One JSON line per dead letter.") var json = false

        func run() throws {
            let inspector = try SpoolInspector(path: try spoolPath.resolved())
            try selection.check(inspector)
            var output = Output()
            var rows = [["id", "sink", "entry", "time", "status", "attempts", "topic", "reason"]]
            try inspector.forEachDeadLetter(matching: selection.filter) { letter in
                if json {
                    try output.line(letter.jsonLine)
                } else {
                    let reason = letter.reason.replacingOccurrences(of: "\n", with: " ")
                    rows.append(["\(letter.id)", letter.sink, "\(letter.entryID)", UnixTime.iso8601(nanoseconds: letter.timestamp),
                                 letter.status.map(String.init) ?? "-", "\(letter.attempts)", letter.topic,
                                 reason.count > 60 ? String(reason.prefix(59)) + "…" : reason])
                }
            }
            if !json {
                try output.line(rows.count == 1 ? "no dead letters" : Format.table(rows))
            }
            try output.flush()
        }
    }

    // MARK: - requeue

    struct Requeue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back in the spool for the sink that rejected them.",
            discussion: """
                Each dead letter becomes a new entry (new id, original time, level, topic, \
                message and context) that only its own sink receives, in the original order, \
                after what that sink already has pending. Other sinks never see them again. \
                The dead letters are removed in the same transaction. Run `spool forward` to \
                send them. A dead letter whose sink is no longer registered is refused.

                Example:
                  spool dlq requeue --spool app.spool --sink loki --id 3 --id 4
                """
        )

        @OptionGroup var spoolPath: SpoolPathOption
        @OptionGroup var selection: Selection
        @Flag(help: "Print {\"requeued\": N, \"entry_ids\": [...]}.") var json = false

        func run() throws {
            let path = try spoolPath.resolved()
            try selection.check(SpoolInspector(path: path))
            let store = try ExistingSpool.open(path)
            let ids = try store.requeueDeadLetters(matching: selection.filter)
            try store.close()
            if json {
                print(try Format.json(Requeued(requeued: ids.count, entryIDs: ids)))
            } else if let first = ids.first, let last = ids.last {
                print("requeued \(ids.count) dead letter\(ids.count == 1 ? "" : "s") as entries \(first)–\(last)")
            } else {
                print("no dead letters matched: nothing requeued")
            }
        }

        struct Requeued: Encodable {
            var requeued: Int
            var entryIDs: [Int64]
            enum CodingKeys: String, CodingKey {
                case requeued
                case entryIDs = "entry_ids"
            }
        }
    }

    // MARK: - purge

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters for good.",
            discussion: """
                When standard input is a terminal, purge asks for confirmation unless --yes is \
                given, and refuses (exit 1) without a `y`. When it is not a terminal (a script), \
                it does not ask.

                Example:
                  spool dlq purge --spool app.spool --sink loki --status 400 --yes
                """
        )

        @OptionGroup var spoolPath: SpoolPathOption
        @OptionGroup var selection: Selection
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print {\"purged\": N}.") var json = false

        func run() throws {
            let path = try spoolPath.resolved()
            let inspector = try SpoolInspector(path: path)
            try selection.check(inspector)
            if !yes && isatty(STDIN_FILENO) == 1 {
                var count = 0
                try inspector.forEachDeadLetter(matching: selection.filter) { _ in count += 1 }
                StandardError.write("Delete \(count) dead letter\(count == 1 ? "" : "s") from \(path) for good? [y/N] ")
                let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
                guard answer == "y" || answer == "yes" else {
                    throw SpoolError(.invalidArgument, "nothing purged (confirm with y, or pass --yes)")
                }
            }
            let store = try ExistingSpool.open(path)
            let purged = try store.purgeDeadLetters(matching: selection.filter)
            try store.close()
            if json {
                print(try Format.json(["purged": purged]))
            } else {
                print("purged \(purged) dead letter\(purged == 1 ? "" : "s")")
            }
        }
    }
}
