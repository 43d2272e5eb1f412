import Foundation
import Spool

/// Reads lines from a file descriptor into a spool: the one ingest path, shared by
/// `spool ingest` and `spool forward --stdin`.
///
/// Lines are committed with `append(contentsOf:)` in batches of whatever one `read(2)` returned
/// (at most ``batchSize`` per transaction): a slow producer gets each line committed as it
/// arrives, a fast one gets large transactions. Every entry passes the configuration's
/// ``Redaction`` (the logger's own rule, ``Redaction/apply(to:)``) before it is appended. A line
/// that does not parse is stored raw and counted in the spool (`spool stats`); nothing is
/// skipped but blank lines.
struct LineIngester: Sendable {
    /// Entries per `append(contentsOf:)`: large enough to amortise the commit, small enough
    /// that one transaction stays short.
    static let batchSize = 1000
    /// Lines reported one by one on stderr; after these, only the closing summary counts them.
    static let reportedLines = 10

    /// What a run read.
    struct Summary: Sendable {
        /// Lines read, blank ones included.
        var lines = 0
        /// Lines that did not parse and were stored raw.
        var raw = 0
        /// Lines stored with a field kept in the context because its value was unusable.
        var noted = 0
        /// Lines reported individually so far.
        var reported = 0
        /// Entries appended (their commit returned).
        var appended = 0
        /// Entries of a batch whose append failed (refused: `reject` at the bound, a full disk).
        var refused = 0
    }

    let store: SpoolStore
    let parser: LineParser
    /// What every entry passes before it is stored: the same rule and the same function as the
    /// logger's (`redaction:` in the configuration; default ``Redaction/defaultKeys``).
    let redaction: Redaction

    /// Reads `descriptor` to its end and commits every line.
    ///
    /// With `shouldStop`, the descriptor is polled before each read and reading ends as soon as
    /// `shouldStop` says so: every line read by then is committed, nothing is read and dropped
    /// (what the producer wrote after that stays unread). Without it, each read blocks.
    /// - Throws: ``SpoolError``: the store's, annotated with the input line, or `.io` when the
    ///   descriptor cannot be read.
    func run(descriptor: Int32, shouldStop: (@Sendable () -> Bool)? = nil) throws(SpoolError) -> Summary {
        var summary = Summary()
        try run(descriptor: descriptor, shouldStop: shouldStop, into: &summary)
        return summary
    }

    /// The same, counting into `summary`, which keeps what was read and stored when it throws.
    func run(descriptor: Int32, shouldStop: (@Sendable () -> Bool)? = nil, into summary: inout Summary) throws(SpoolError) {
        var reader = LineReader(descriptor: descriptor)
        var batch: [LogEntry] = []
        batch.reserveCapacity(Self.batchSize)
        var rawInBatch = 0

        func commit() throws {
            guard !batch.isEmpty else { return }
            do {
                try store.append(contentsOf: batch)
            } catch {
                summary.refused += batch.count
                throw error
            }
            summary.appended += batch.count
            batch.removeAll(keepingCapacity: true)
            if rawInBatch > 0 {
                try store.addIngestCounts(rawStoredLines: rawInBatch)
                rawInBatch = 0
            }
        }

        func report(_ text: String) {
            summary.reported += 1
            guard summary.reported <= Self.reportedLines else { return }
            Diagnostics.warning(text)
            if summary.reported == Self.reportedLines {
                Diagnostics.warning("further lines like these are not reported one by one; the summary at the end counts them")
            }
        }

        do {
            // One read's worth of lines per commit: never wait for more input before committing.
            while try Self.waitForInput(descriptor, shouldStop: shouldStop), try reader.readLines({ line in
                summary.lines += 1
                let number = summary.lines
                var entry: LogEntry
                switch parser.parse(line) {
                case .blank:
                    return
                case .parsed(let parsed, let notes):
                    entry = parsed
                    if !notes.isEmpty {
                        summary.noted += 1
                        for note in notes { report("line \(number): \(note)") }
                    }
                case .raw(let stored, let reason):
                    entry = stored
                    summary.raw += 1
                    rawInBatch += 1
                    report("line \(number): \(reason); stored raw (its context's parse_error says why)")
                }
                redaction.apply(to: &entry)
                batch.append(entry)
                if batch.count >= Self.batchSize { try commit() }
            }) {
                try commit()
            }
            try commit()
        } catch let error as SpoolError {
            var message = "\(error.message) (stopped at input line \(summary.lines))"
            if error.isBusy {
                // Another connection kept the write lock longer than the busy timeout.
                message += ": another connection holds the spool's write lock"
                    + (FileHolders.describe(store.path).map { " (processes with it open: \($0))" } ?? "")
                    + "; end its transaction (a sqlite3 shell inside BEGIN: COMMIT or ROLLBACK), or raise busy_timeout, and run again"
            }
            throw SpoolError(error.code, message, sqliteCode: error.sqliteCode)
        } catch let error as LineReader.ReadFailure {
            throw SpoolError(.io, "\(error.message) (after input line \(summary.lines))")
        } catch {
            throw SpoolError(.io, "\(error) (after input line \(summary.lines))")
        }
    }

    /// The closing line of a run that lost, refused or left input unread, or nil when every
    /// line is stored: `200000 lines read: 70870 stored, 129130 dropped (disk_full:dropNewest:
    /// 129130), 0 refused`. A command that prints it exits non-zero.
    static func lossLine(_ summary: Summary, drops: [String: Int], failed: Bool) -> String? {
        let dropped = drops.values.reduce(0, +)
        guard dropped > 0 || summary.refused > 0 || failed else { return nil }
        // Incoming entries dropped were never stored; dropOldest removed older ones instead.
        let notStored = drops.filter { $0.key.hasSuffix(":dropNewest") }.values.reduce(0, +)
        let reasons = drops.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        var line = "\(summary.lines) lines read: \(max(0, summary.appended - notStored)) stored, \(dropped) dropped"
        if !reasons.isEmpty { line += " (\(reasons))" }
        line += ", \(summary.refused) refused"
        if failed { line += "; the input after line \(summary.lines) was not read" }
        return line
    }

    /// The closing line on stderr when some lines were stored raw or repaired.
    static func reportSummary(_ summary: Summary, format: LineParser.Format) {
        if summary.raw > 0 {
            Diagnostics.warning("\(summary.raw) of \(summary.lines) input lines did not parse as \(format.rawValue) and were stored raw (context.parse_error says why; `spool stats` counts them)")
        }
        // Noted lines were each reported, unless there were more than the first few.
        if summary.noted > 0 && summary.reported > reportedLines {
            Diagnostics.warning("\(summary.noted) of \(summary.lines) input lines had a field Spool could not use as it was (a level, a time, a context): stored, the field kept in the context")
        }
    }

    /// Waits until `descriptor` has input (or its end) to read; false once `shouldStop` says so.
    private static func waitForInput(_ descriptor: Int32, shouldStop: (@Sendable () -> Bool)?) throws -> Bool {
        guard let shouldStop else { return true }
        while true {
            if shouldStop() { return false }
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&request, 1, 100)
            if ready > 0 { return !shouldStop() }
            if ready < 0 && errno != EINTR {
                throw LineReader.ReadFailure(message: "cannot wait for standard input: \(String(cString: strerror(errno)))")
            }
        }
    }
}
