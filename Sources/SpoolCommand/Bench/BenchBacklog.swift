import ArgumentParser
import Spool

/// `spool bench backlog` (hidden): a spool holding a backlog, left on disk for a real `spool
/// forward` to drain (`tools/rss-forward` measures that process's peak RSS). The entries are
/// `spool bench drain`'s (the corpus, or --synthetic), appended the same way, with no size bound.
struct BenchBacklog: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backlog",
        abstract: "Append a backlog to a spool (no size bound) and exit, for `spool forward` to drain.",
        shouldDisplay: false
    )

    @Option(help: "The spool file to create or append to.") var spool: String
    @Option(help: "Entries to append.") var entries = 10_000_000
    @Flag(help: "Fixed ASCII messages of --message-bytes (the old synthetic backlog) instead of the corpus.") var synthetic = false
    @Option(help: "Message size in bytes (--synthetic only).") var messageBytes = 200
    @Option(help: "The sink registered before the first append (spool forward --loki's default name).") var sink = "loki"

    func validate() throws {
        guard entries >= 1 else { throw ValidationError("--entries must be at least 1.") }
    }

    func run() throws {
        var configuration = SpoolStore.Configuration(durability: .committed)
        configuration.maximumBytes = nil  // a 10,000,000-entry backlog is over the default bound
        configuration.report = StandardError.writeJSONLine
        let store = try SpoolStore(path: spool, configuration: configuration)
        try store.registerSink(sink)
        if synthetic {
            try ForwardPipeline.append(count: entries, messageBytes: messageBytes, to: store)
        } else {
            try ForwardPipeline.appendCorpus(count: entries, to: store)
        }
        let stats = try store.stats()
        try store.close()
        print("spool bench backlog: \(stats.entries) entries, \(stats.fileBytes) bytes + \(stats.walBytes) bytes WAL")
    }
}
