import Foundation

/// The last resort for reports: one JSON line on stderr, written with a single `write(2)` so
/// lines from several threads do not interleave. It never throws and never recurses.
public enum StandardError {
    /// Writes `entry` as one NDJSON line (the shape the NDJSON sink sends) on stderr.
    @Sendable
    public static func writeJSONLine(_ entry: LogEntry) {
        var line = EntryJSON.line(entry)
        line += "\n"
        write(line)
    }

    /// Writes text to stderr, unbuffered.
    @Sendable
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
