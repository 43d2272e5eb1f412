import Foundation

/// The last resort for reports: one JSON line on stderr, written with a single `write(2)` so
/// lines from several threads do not interleave. It never throws and never recurses.
package enum StandardError {
    /// Writes `entry` as one NDJSON line (the shape the NDJSON sink sends) on stderr.
    @Sendable
    package static func writeJSONLine(_ entry: LogEntry) {
        var line = EntryJSON.line(entry)
        line += "\n"
        write(line)
    }

    /// Writes text to stderr, unbuffered.
    @Sendable
    package static func write(_ text: String) {
        var text = text
        _ = writeAll(&text, to: 2)
    }

    /// Writes `text` whole to `descriptor`, retrying short writes and EINTR: the one write loop
    /// of stderr reports, the console and the CLI's output.
    /// - Returns: nil when everything was written, else the `errno` of the failed write.
    package static func writeAll(_ text: inout String, to descriptor: Int32) -> Int32? {
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if written == 0 { return EIO }
                offset += written
            }
            return nil
        }
    }
}
