import ArgumentParser
import Spool

/// `spool stats`: what a spool holds and what each sink still has to send.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show what a spool holds and what each sink still has to send.",
        discussion: """
            Prints the entries stored, per sink the pending count, the age of the oldest \
            pending entry, what was delivered and dead-lettered and who holds the lease, then \
            dead letters, drops at the size bound, file and WAL sizes and the schema version; \
            then each sink's books, accepted = delivered + dead-lettered + dropped + pending, \
            and its delivery latency (commit to acknowledgement: p50, p99, max). \
            With --json, the same as one JSON object on one line (the library's SpoolStats, \
            keys in snake_case, plus raw_stored_lines).

            The spool is opened read-only: stats never creates, repairs or migrates a file. \
            A missing file is an error (exit 1). Books that do not balance are a bug: \
            stats says so on stderr and exits 1.

            Example:
              spool stats --spool app.spool
              spool stats --spool app.spool --json | jq '.sinks[] | {name, pending}'
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Flag(help: "Print the statistics as JSON.")
    var json = false

    func run() throws {
        let path = try spoolPath.resolved()
        let clock = SystemClock()
        let stats = try SpoolStore.stats(path: path, clock: clock)
        let rawStored = try SpoolStore.rawStoredLines(path: path)
        if json {
            print(try Format.json(Output(stats: stats, rawStoredLines: rawStored)))
        } else {
            print(Self.render(stats, rawStored: rawStored, path: path, now: clock.now.nanoseconds))
        }
        let unbalanced = stats.sinks.filter { $0.books.map { !$0.balances } ?? false }
        if !unbalanced.isEmpty {
            // Books that do not balance are a bug in Spool: loud, and not exit 0.
            StandardError.write("spool stats: THE BOOKS DO NOT BALANCE for \(unbalanced.map { "'\($0.name)'" }.joined(separator: ", ")) in \(path): accepted entries are unaccounted for (or counted twice). This is a bug in Spool; please report it with this output and `sqlite3 \(path) 'SELECT * FROM sink_books'`.\n")
            throw ExitCode.failure
        }
    }

    /// `--json`: the library's `SpoolStats` and the count of raw-stored input lines.
    struct Output: Encodable {
        var stats: SpoolStats
        var rawStoredLines: Int64

        func encode(to encoder: any Encoder) throws {
            try stats.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(rawStoredLines, forKey: Key(stringValue: "raw_stored_lines"))
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    static func render(_ stats: SpoolStats, rawStored: Int64, path: String, now: Int64) -> String {
        var ids = ""
        if let oldest = stats.oldestID, let newest = stats.newestID { ids = ", ids \(oldest) to \(newest)" }
        var lines = [Format.table([
            ["spool", path],
            ["entries", "\(stats.entries) (\(Format.bytes(stats.entryBytes)) of topics, messages and contexts\(ids))"],
            ["dead letters", "\(stats.deadLetters)"],
            ["drops", "\(stats.droppedEntries) entries dropped (at the size bound, or by a destination that accepted a batch but dropped some), in \(stats.dropEvents) events"],
            ["raw lines", "\(rawStored) input lines did not parse and were stored raw (context.parse_error)"],
            ["file", "\(Format.bytes(stats.fileBytes)), WAL \(Format.bytes(stats.walBytes)), data \(Format.bytes(stats.usedBytes))"],
            ["schema", "version \(stats.schemaVersion) (this spool binary writes \(SpoolStore.latestSchemaVersion))"],
        ])]
        lines.append("")
        if stats.sinks.isEmpty {
            lines.append("sinks: none registered (entries stay until a sink is registered and delivers them)")
        } else {
            var rows = [["sink", "pending", "oldest pending", "delivered", "dead-lettered", "lease"]]
            for sink in stats.sinks {
                rows.append([
                    sink.name, "\(sink.pending)",
                    sink.oldestPendingAgeSeconds.map(Format.age(seconds:)) ?? "-",
                    "\(sink.delivered)", "\(sink.deadLettered)", lease(of: sink, now: now),
                ])
            }
            lines.append(Format.table(rows))
            let books = stats.sinks.compactMap { sink in sink.books.map { "\(sink.name): " + equation($0) } }
            if !books.isEmpty {
                lines.append("")
                lines.append("books (accepted = delivered + dead-lettered + dropped + pending):")
                lines.append(contentsOf: books.map { "  " + $0 })
            }
            let latency = stats.sinks.compactMap { sink in sink.latency.map { "\(sink.name): " + describe($0) } }
            if !latency.isEmpty {
                lines.append("")
                lines.append("delivery latency (commit to acknowledgement):")
                lines.append(contentsOf: latency.map { "  " + $0 })
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `accepted 10000 = delivered 9000 + dead-lettered 10 + dropped 40 + pending 950 ✓`
    static func equation(_ books: SinkBooks) -> String {
        let sum = "delivered \(books.delivered) + dead-lettered \(books.deadLettered) + dropped \(books.dropped) + pending \(books.pending)"
        if books.balances { return "accepted \(books.accepted) = \(sum) ✓" }
        let difference = books.accepted - (books.delivered + books.deadLettered + books.dropped + books.pending)
        return "accepted \(books.accepted) ≠ \(sum) ✗ DOES NOT BALANCE (off by \(difference))"
    }

    /// `p50 ≤ 250 ms, p99 ≤ 1 s, max 1.2 s (9000 entries)`
    static func describe(_ latency: LatencySummary) -> String {
        "p50 ≤ \(Format.duration(seconds: latency.p50Seconds)), p99 ≤ \(Format.duration(seconds: latency.p99Seconds)), max \(Format.duration(seconds: latency.maxSeconds)) (\(latency.count) entries)"
    }

    private static func lease(of sink: SpoolStats.Sink, now: Int64) -> String {
        guard let owner = sink.leaseOwner, let expires = sink.leaseExpiresNanoseconds else { return "free" }
        if expires <= now { return "free (\(owner)'s expired at \(UnixTime.iso8601(nanoseconds: expires)))" }
        return "\(owner) until \(UnixTime.iso8601(nanoseconds: expires))"
    }
}
