import ArgumentParser
import Spool

/// `spool check`: is this file a sound spool this binary can write to?
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a spool's integrity and schema version, without changing it.",
        discussion: """
            Runs SQLite's integrity check and compares the file's schema version with the one \
            this binary writes. The file is opened read-only: check never repairs, moves aside \
            or migrates anything (unlike opening it to write, which sets a damaged file aside).

            Exit status 0 only for a sound spool at this binary's schema version. Any problem \
            exits 1 with one line saying what to do: a damaged file or one that is not SQLite, \
            a SQLite database of another application, an empty file, a spool from a newer \
            Spool, and also a sound spool at an older schema version (run `spool migrate`).

            Example:
              spool check --spool app.spool && spool stats --spool app.spool
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Flag(help: "Print the report as JSON (also when it finds a problem).")
    var json = false

    func run() throws {
        let report = try SpoolStore.check(path: try spoolPath.resolved())
        if json {
            print(try Format.json(report))
        } else if report.isHealthy {
            print("ok: \(report.message)")
        }
        guard report.isHealthy else {
            Diagnostics.error("\(Self.label(report.status)): \(report.message)")
            throw ExitCode.failure
        }
    }

    private static func label(_ status: SpoolStore.CheckReport.Status) -> String {
        switch status {
        case .ok: "ok"
        case .outdatedSchema: "older schema"
        case .newerSchema: "newer schema"
        case .notASpool: "not a spool"
        case .corrupt: "damaged"
        case .empty: "empty"
        }
    }
}
