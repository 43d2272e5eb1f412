import ArgumentParser
import Spool

/// `spool migrate`: bring a spool's schema up to this binary's version.
struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Upgrade a spool's schema to this binary's version.",
        discussion: """
            Applies the migrations the spool is missing, in order, in one transaction: the \
            spool reaches the latest version with its data intact, or nothing changes. Prints \
            the versions before and after. A spool from a newer Spool, a damaged file and a \
            database of another application are refused and left unchanged (exit 1).

            Writing commands such as ingest migrate on open as well; migrate lets you do it \
            ahead of time, for example before deploying a new version.

            Example:
              spool migrate --spool app.spool
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    func run() throws {
        let path = try spoolPath.resolved()
        let (from, to) = try SpoolStore.migrate(path: path)
        if from == to {
            print("\(path): schema version \(to), already the latest: nothing to do")
        } else {
            print("\(path): migrated schema version \(from) → \(to)")
        }
    }
}
