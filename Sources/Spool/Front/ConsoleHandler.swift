import Foundation

/// Writes entries to the console: one human-readable line per entry, coloured by level, when
/// the output is a terminal; one JSON line per entry (the shape of ``EntryJSON``) otherwise, so
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
        /// One ``EntryJSON`` line per entry.
        case json
    }

    /// The file descriptor written to.
    public let fileDescriptor: Int32
    /// The format, resolved: never ``Format/automatic``.
    public let format: Format

    /// Creates a console handler.
    /// - Parameters:
    ///   - format: The line format. Default ``Format/automatic``, decided once here.
    ///   - fileDescriptor: Where to write. Default 2 (stderr), leaving stdout to the program.
    public init(format: Format = .automatic, fileDescriptor: Int32 = 2) {
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

    /// Writes the entry as one line.
    /// - Throws: ``SpoolError`` with code `.io` when the write fails (a closed pipe, a full disk).
    public func handle(_ entry: LogEntry) throws {
        var line: String
        switch format {
        case .human(let colour): line = Self.humanLine(entry, colour: colour)
        case .json, .automatic: line = EntryJSON.line(entry)
        }
        line += "\n"
        try write(&line)
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

    private func write(_ line: inout String) throws {
        let failure: Int32? = line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure {
            throw SpoolError(.io, "writing to file descriptor \(fileDescriptor) failed: \(String(cString: strerror(failure)))")
        }
    }
}
