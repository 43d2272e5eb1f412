import Foundation

/// Writes entries to the console: one human-readable line per entry, coloured by level, when
/// the output is a terminal; one JSON line per entry (the shape `spool export` writes) otherwise, so
/// that a process supervisor or a log shipper reading a pipe gets structured lines.
///
/// Each line is written with one `write(2)`, so lines from several threads do not interleave.
/// `ConsoleHandler` is a `Sendable` value.
///
/// ```swift
/// let log = SpoolLogger(topic: "worker", handlers: [ConsoleHandler()])
/// log.warning("queue is filling up", context: ["depth": 912])
/// // on a terminal: 2024-11-29T09:40:00.123Z WARNING worker: queue is filling up {"depth":912}
/// ```
public struct ConsoleHandler: LogEntryHandler {
    /// How lines are written.
    public enum Format: Sendable, Hashable {
        /// ``human(colour:)`` with colour when the output is a terminal and `NO_COLOR` is not
        /// set; ``json`` when it is not a terminal.
        case automatic
        /// `TIMESTAMP LEVEL topic: message {context}`, optionally with ANSI colours.
        case human(colour: Bool)
        /// One JSON line per entry, in the shape `spool export` writes.
        case json
    }

    /// The file descriptor written to.
    package var fileDescriptor: Int32 { formatter.fileDescriptor }
    /// The format, resolved: never ``Format/automatic``.
    package var format: Format { formatter.format }
    /// The one implementation of the console formats, shared with ``ConsoleSink``.
    let formatter: ConsoleFormatter

    /// Creates a console handler.
    /// - Parameters:
    ///   - format: The line format. Default ``Format/automatic``, decided once here.
    ///   - fileDescriptor: Where to write. Default 2 (stderr), leaving stdout to the program.
    public init(format: Format = .automatic, fileDescriptor: Int32 = 2) {
        formatter = ConsoleFormatter(format: format, fileDescriptor: fileDescriptor)
    }

    /// Writes the entry as one line.
    /// - Throws: ``SpoolError`` with code `.io` when the write fails (a full disk; a closed pipe
    ///   only where SIGPIPE is ignored, as the `spool` command does: by default the signal ends
    ///   the process, which is why examples list the spool handler first).
    public func handle(_ entry: LogEntry) throws {
        var line = formatter.line(entry)
        line += "\n"
        try formatter.write(&line)
    }
}
