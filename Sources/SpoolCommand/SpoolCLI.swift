import ArgumentParser
import Foundation
import Spool

/// `spool`: ingest, inspect and maintain crash-safe log spools.
@main
struct SpoolCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Crash-safe log spooling: every entry is committed to a local SQLite spool before it is sent anywhere.",
        discussion: """
            Exit status: 0 success, 1 failure (including a partly failed ingest), 2 usage error.

            Example:
              printf 'hello\\nworld\\n' | spool ingest --spool app.spool --topic demo
              spool stats --spool app.spool
            """,
        subcommands: [Ingest.self, Stats.self, Check.self, Migrate.self, Bench.self]
    )
}

/// `--spool PATH`, shared by every command; `SPOOL_PATH` is the fallback.
struct SpoolPathOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The spool file (default: $SPOOL_PATH).", valueName: "path"))
    var spool: String?

    func resolved() throws -> String {
        if let spool, !spool.isEmpty { return spool }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SPOOL_PATH"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        throw ValidationError("Missing --spool PATH (or set SPOOL_PATH).")
    }
}
