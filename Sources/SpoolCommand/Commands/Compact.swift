import ArgumentParser
import Foundation
import Spool

/// `spool compact`: checkpoint and VACUUM, reporting the bytes freed.
struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Give the space of delivered entries back to the file system (checkpoint and VACUUM).",
        discussion: """
            Delivered entries are deleted from the spool, but SQLite keeps their pages for reuse \
            and the WAL keeps its size until a checkpoint truncates it. compact checkpoints the \
            WAL, rebuilds the file without its free pages (VACUUM), truncates the WAL, and \
            reports the file and WAL sizes before and after.

            VACUUM holds the spool's write lock while it runs: an application appending to the \
            spool waits until it ends (up to its busy timeout, 5 s by default). So compact \
            refuses while a forwarder holds a live sink lease (stop it first, or pass --force), \
            and waits at most --busy-timeout seconds for a writer's transaction. It needs free \
            disk space of about the spool's size while it runs.

            A status line shows on stderr while it works, when stderr is a terminal.
            Exit status: 0 compacted, 1 failure (refused, busy, damaged, missing), 2 usage error.

            Example:
              spool compact --spool app.spool
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Flag(help: "Compact even while a forwarder holds a sink's lease (it stalls until compact ends).")
    var force = false

    @Option(help: ArgumentHelp("Seconds to wait for another connection's write lock.", valueName: "s"))
    var busyTimeout = 5.0

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must not be negative.") }
    }

    func run() throws {
        let path = try spoolPath.resolved()
        let line = LiveLine("compacting \(path) (\(Format.bytes(SpoolStoreFileSize.of(path))))")
        defer { line.finish() }
        let report = try SpoolStore.compact(path: path, busyTimeout: .milliseconds(Int64(busyTimeout * 1000)), force: force)
        line.finish()
        if json {
            print(try Format.json(report))
            return
        }
        print(Format.table([
            ["", "before", "after"],
            ["file", Format.bytes(report.fileBytesBefore), Format.bytes(report.fileBytesAfter)],
            ["wal", Format.bytes(report.walBytesBefore), Format.bytes(report.walBytesAfter)],
        ]))
        print("freed \(Format.bytes(report.bytesFreed)) (\(report.bytesFreed) bytes; \(report.freePagesBefore) free pages of \(report.pageSize) bytes) in \(Format.age(seconds: report.seconds))")
        if !report.walTruncated {
            Diagnostics.warning("another connection was reading, so the WAL could not be truncated; it will be at the next checkpoint")
        }
    }
}

/// The size of a file, for messages.
enum SpoolStoreFileSize {
    static func of(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }
}
