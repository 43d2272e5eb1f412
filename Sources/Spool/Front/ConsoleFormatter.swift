import Foundation

/// The console's line formats and its writer, shared by ``ConsoleHandler`` (entries as they are
/// logged) and ``ConsoleSink`` (entries replayed from the spool), so a line looks the same
/// whichever way it reached the terminal (and `spool tail` prints the same lines).
package struct ConsoleFormatter: Sendable, Hashable {
    /// The file descriptor written to.
    let fileDescriptor: Int32
    /// The format, resolved: never ``ConsoleHandler/Format/automatic``.
    let format: ConsoleHandler.Format

    /// Resolves ``ConsoleHandler/Format/automatic`` once: human with colour on a terminal
    /// (unless `NO_COLOR` is set), JSON lines otherwise.
    ///
    /// - Parameters:
    ///   - format: The format; `.automatic` is resolved against `fileDescriptor`.
    ///   - fileDescriptor: Where ``write(_:)`` writes.
    package init(format: ConsoleHandler.Format, fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
        if case .automatic = format {
            if isatty(fileDescriptor) == 1 {
                self.format = .human(colour: ProcessInfo.processInfo.environment["NO_COLOR"]?.isEmpty ?? true)
            } else {
                self.format = .json
            }
        } else {
            self.format = format
        }
    }

    // MARK: - Lines

    /// One line for an entry being logged, without the final newline.
    func line(_ entry: LogEntry) -> String {
        switch format {
        case .human(let colour): Self.humanLine(entry, colour: colour)
        case .json, .automatic: EntryJSON.line(entry)
        }
    }

    /// One line for a stored entry, without the final newline. JSON lines carry the spool id.
    package func line(_ stored: StoredEntry) -> String {
        switch format {
        case .human(let colour): Self.humanLine(stored.entry, colour: colour)
        case .json, .automatic: EntryJSON.line(stored)
        }
    }

    /// `2024-11-29T09:40:00.123Z WARNING worker: queue is filling up {"depth":912}`; the context is
    /// written by the one entry JSON writer.
    static func humanLine(_ entry: LogEntry, colour: Bool) -> String {
        var line = UnixTime.iso8601(nanoseconds: entry.timestamp)
        line += " "
        if colour { line += Self.colour(entry.level) }
        line += entry.level.rawValue.uppercased()
        if colour { line += "\u{1B}[0m" }
        line += " "
        line += entry.topic
        line += ": "
        line += entry.message
        if let context = entry.context, !context.isEmpty {
            line += " "
            JSON.writeObject(context, to: &line)
        }
        return line
    }

    private static func colour(_ level: LogLevel) -> String {
        switch level {
        case .trace, .debug: "\u{1B}[2m"
        case .info: "\u{1B}[32m"
        case .notice: "\u{1B}[36m"
        case .warning: "\u{1B}[33m"
        case .error: "\u{1B}[31m"
        case .critical: "\u{1B}[1;31m"
        }
    }

    // MARK: - Writing

    /// Writes `text` whole (retrying short writes and EINTR). One call per line keeps lines
    /// from several threads apart; a batch of lines in one call is written in one piece too.
    /// - Throws: ``SpoolError`` with code `.io` when the write fails (a full disk; a closed pipe
    ///   only where SIGPIPE is ignored, as the `spool` command does: by default the signal ends
    ///   the process, which is why examples list the spool handler first).
    package func write(_ text: inout String) throws(SpoolError) {
        let failure: Int32? = StandardError.writeAll(&text, to: fileDescriptor)
        if let failure {
            throw SpoolError(.io, "writing to file descriptor \(fileDescriptor) failed: \(String(cString: strerror(failure)))")
        }
    }
}
