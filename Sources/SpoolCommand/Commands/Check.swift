import ArgumentParser
import Foundation
import Spool

/// `spool check`: is this file a sound spool this binary can write to? With `--repair`,
/// salvage what a damaged one still holds.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a spool's integrity and schema version; with --repair, salvage a damaged one.",
        discussion: """
            Runs SQLite's integrity check and compares the file's schema version with the one \
            this binary writes. The file is opened read-only: without --repair, check never \
            repairs, moves aside or migrates anything (unlike opening it to write, which sets a \
            damaged file aside).

            Exit status 0 only for a sound spool at this binary's schema version. Any problem \
            exits 1 with one line saying what to do: a damaged spool, a file that is not a \
            spool (not SQLite, or a SQLite database of another application), an empty file, a \
            spool from a newer Spool, and also a sound spool at an older schema version (run \
            `spool migrate`).

            --repair, for a damaged spool: copies every readable row (entries with their ids, \
            sink positions, dead letters, drops, counters; leases cleared) into a fresh spool \
            at the same path, keeps the damaged file as <path>.corrupt-<UTC time>, and reports \
            per table what was saved and which id ranges were lost. A sound spool is left \
            alone. Repair refuses, naming the process, while another process has the spool \
            open (the application, spool ingest, spool forward, a sqlite3 shell) or a \
            forwarder holds a live lease on it: stop them first. Exit status 0 when the new \
            spool is sound (even if rows were lost: the report says which), 1 when nothing \
            could be repaired (a file that is not a spool, a newer spool, a spool in use, a \
            file system error).

            Examples:
              spool check --spool app.spool && spool stats --spool app.spool
              spool check --repair --spool app.spool
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Flag(help: "Salvage a damaged spool into a new file, keeping the damaged one aside.")
    var repair = false

    @Flag(help: "Print the report as JSON (also when it finds a problem).")
    var json = false

    func run() throws {
        let path = try spoolPath.resolved()
        let report = try SpoolStore.check(path: path)
        if repair && report.status == .corrupt {
            try runRepair(path: path, found: report)
            return
        }
        if json {
            print(try Format.json(report))
        } else if report.isHealthy {
            print("ok: \(report.message)\(repair ? "; nothing to repair" : "")")
        }
        guard report.isHealthy else {
            Diagnostics.error("\(Self.label(report.status)): \(report.message)\(repair ? " (--repair salvages damaged files only)" : "")")
            throw ExitCode.failure
        }
    }

    private func runRepair(path: String, found: SpoolStore.CheckReport) throws {
        // The repair's own check is SQLite's locks, which a process holds only once it has read
        // the file: a `sqlite3` shell that has opened it and not yet read would go on reading
        // the damaged file once it is set aside. /proc says who has it open (Linux).
        if let holders = FileHolders.describe(path) {
            throw SpoolError(.inUse, "\(path) is open in another process (\(holders)): stop it before repairing it; nothing was changed")
        }
        if !json { print("damaged: \(found.message)") }
        let line = LiveLine("salvaging \(path)")
        defer { line.finish() }
        let repaired = try SpoolStore.repair(path: path) { table, saved in
            line.update("salvaging \(path): \(table), \(saved) rows saved")
        }
        line.finish()
        if json {
            print(try Format.json(repaired))
            return
        }
        print(RepairText.render(repaired))
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

/// The repair report for people.
enum RepairText {
    static func render(_ report: SpoolStore.RepairReport) -> String {
        var rows = [["table", "saved", "lost", "lost rowid ranges"]]
        for table in report.tables {
            let lost: String
            if !table.readable { lost = "all" } else if let most = table.lostAtMost { lost = most == 0 ? "0" : "≤ \(most)" } else { lost = "?" }
            var ranges = table.lostRanges.map { range in
                range.last.map { $0 == range.first ? "\(range.first)" : "\(range.first)…\($0)" } ?? "\(range.first)…end"
            }.joined(separator: ", ")
            if table.rejected > 0 { ranges += (ranges.isEmpty ? "" : "; ") + "\(table.rejected) refused by the schema" }
            if let note = table.note { ranges += (ranges.isEmpty ? "" : "; ") + note }
            rows.append([table.name, String(table.saved), lost, ranges.isEmpty ? "-" : ranges])
        }
        var text = "repaired: \(report.path) is a fresh spool with every readable row\n"
        text += Format.table(rows) + "\n"
        text += report.lostNothing ? "nothing was lost\n" : "entries in a lost range that no sink had passed were never delivered: resend them from their source if it still has them\n"
        text += "id floor: \(report.idFloor) (new entries get higher ids)\n"
        text += "damaged file kept at: \(report.damagedMovedTo)\n"
        text += "check it: spool check --spool \(report.path)"
        return text
    }
}
