import ArgumentParser
import Foundation
import Spool

/// `spool demo`: a self-contained tour of what Spool promises, against a local receiver.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A self-contained tour: log, survive a receiver outage, drain, lose nothing.",
        discussion: """
            Starts a Loki-compatible receiver on 127.0.0.1 (in this process; no external \
            service), has a small sample app log entries through SpoolLogger into a spool, \
            makes the receiver answer 503 for a few seconds while the app keeps logging, then \
            lets it recover and drains the spool. It ends with a summary (written, delivered, \
            duplicates, lost) and the sqlite3 command to look into the spool it left.

            Retries and the circuit breaker are tuned for the demo (retries within 0.5 s, a 1 s \
            cool-down instead of 30 s), and the output says so. While it runs, a live status \
            line (pending, sent, retries, breaker) is drawn on stderr when stderr is a \
            terminal; otherwise a plain progress line is printed to stderr once a second. The \
            story and the summary go to stdout.

            Exit status: 0 when nothing was lost, 1 otherwise, 2 usage error.

            Examples:
              spool demo
              spool demo --fast --spool /tmp/demo.spool
            """
    )

    @Option(help: ArgumentHelp("Where to create the demo's spool (a new file; default: a fresh temporary directory).", valueName: "path"))
    var spool: String?

    @Option(help: ArgumentHelp("How many entries the sample app logs.", valueName: "n"))
    var entries: Int?

    @Option(help: ArgumentHelp("How long the receiver fails, in seconds.", valueName: "s"))
    var outageSeconds: Double?

    @Flag(help: "A short run (1000 entries, a 1 s outage), for tests and impatient people.")
    var fast = false

    func validate() throws {
        if let entries, entries < 1 || entries > 1_000_000 { throw ValidationError("--entries must be 1 to 1000000.") }
        if let outageSeconds, outageSeconds < 0 || outageSeconds > 120 { throw ValidationError("--outage-seconds must be 0 to 120.") }
        // Here rather than in `run()`: a ValidationError thrown there prints the top-level usage.
        if let spool, SpoolStoreFileSize.of(spool) > 0 {
            throw ValidationError("\(spool) already exists: the demo counts only its own entries, give a new path.")
        }
    }

    func run() async throws {
        let plan = DemoPlan(entries: entries ?? (fast ? 1000 : 3000), outageSeconds: outageSeconds ?? (fast ? 1 : 4))
        let path = try spoolPath()
        let outcome = try await DemoRun(plan: plan, path: path).run()
        print(outcome.summary())
        if outcome.lost > 0 { throw ExitCode.failure }
    }

    /// A new spool path: `--spool` (``validate()`` checked that it holds nothing yet) or a
    /// temporary directory.
    private func spoolPath() throws -> String {
        if let spool { return spool }
        let directory = NSTemporaryDirectory() + "spool-demo-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/demo.spool"
    }
}

/// The demo's schedule.
struct DemoPlan: Sendable {
    /// Entries the sample app logs.
    var entries: Int
    /// How long the receiver answers 503.
    var outageSeconds: Double
    /// Healthy sending before the outage.
    var warmUpSeconds = 1.0
    /// The app logs for the warm-up and the outage, and a little after.
    var appSeconds: Double { warmUpSeconds + outageSeconds + 0.5 }
    /// How long the drain may take before the demo gives up (bounded).
    var drainDeadline: Duration = .seconds(60)
}
