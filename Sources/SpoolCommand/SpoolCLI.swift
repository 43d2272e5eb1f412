import ArgumentParser
import CSQLite
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

            Examples:
              spool demo
              printf 'hello\\nworld\\n' | spool ingest --spool app.spool --topic demo
              spool stats --spool app.spool
            """,
        version: SpoolCLI.versionText,
        subcommands: [Demo.self, Ingest.self, Forward.self, Validate.self, Tail.self, Export.self, DeadLetters.self, Sinks.self, Stats.self, Top.self, Check.self, Compact.self, Migrate.self, Bench.self]
    )

    /// This tool's version.
    static let version = "0.1.0"

    /// `spool --version`: the version, the spool schema it writes and the SQLite it runs on,
    /// what a bug report needs.
    static var versionText: String {
        "spool \(version) (spool schema \(SpoolStore.latestSchemaVersion), SQLite \(String(cString: sqlite3_libversion())))"
    }

    /// ArgumentParser's own `main`, with the exit statuses and the error line this tool
    /// documents: usage errors exit 2 (not EX_USAGE, 64), and every error is one
    /// `spool: error: …` line on stderr.
    static func main() async {
        if CommandLine.arguments.dropFirst().first == "forward" { Forward.limitMallocArenas() }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            Exit.with(error)
        }
        Exit.now(Exit.success)
    }
}

/// The one place that turns an error into what the user sees and the exit status.
enum Exit {
    /// 0: everything was done.
    static let success: Int32 = 0
    /// 1: something failed (a damaged file, a missing spool, a refused append).
    static let failure: Int32 = 1
    /// 2: the command line was wrong.
    static let usage: Int32 = 2

    static func with(_ error: any Error) -> Never {
        switch error {
        case let error as SpoolError:
            Diagnostics.error(error.message)
            now(failure)
        case let code as ExitCode:
            now(code.rawValue == ExitCode.validationFailure.rawValue ? usage : code.rawValue)
        default:
            let code = SpoolCLI.exitCode(for: error)
            let text = SpoolCLI.fullMessage(for: error)
            if code == .success {
                print(text)
                now(success)
            }
            // ArgumentParser starts with "Error: "; say who is speaking, as other tools do.
            let prefix = "Error: "
            let body = text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
            if !body.isEmpty { Diagnostics.error(body) }
            now(code == .validationFailure ? usage : failure)
        }
    }

    static func now(_ status: Int32) -> Never {
        fflush(nil)  // every stdio stream: what `print` buffered
        exit(status)
    }
}

/// `--spool PATH`, shared by every command; `SPOOL_PATH` is the fallback.
/// `--spool PATH` for a command that can also take the path from elsewhere (`forward --config`):
/// not required while parsing.
struct OptionalSpoolPathOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The spool file (default: $SPOOL_PATH, or the configuration file's spool.path).", valueName: "path"))
    var spool: String?

    /// The path from `--spool`, else `SPOOL_PATH`, else `fallback`.
    func resolved(fallback: String? = nil) throws -> String {
        if let path = SpoolPathOption.explicit(spool) ?? fallback { return path }
        throw ValidationError("Missing --spool PATH (or set SPOOL_PATH).")
    }
}

struct SpoolPathOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The spool file (default: $SPOOL_PATH).", valueName: "path"))
    var spool: String?

    /// Checked while parsing, so a missing path is a usage error with the command's usage line.
    func validate() throws {
        _ = try resolved()
    }

    func resolved() throws -> String {
        if let path = Self.explicit(spool) { return path }
        throw ValidationError("Missing --spool PATH (or set SPOOL_PATH).")
    }

    /// `--spool`'s value, else `SPOOL_PATH`, else nil.
    static func explicit(_ option: String?) -> String? {
        if let option, !option.isEmpty { return option }
        if let fromEnvironment = ProcessInfo.processInfo.environment["SPOOL_PATH"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return nil
    }
}
