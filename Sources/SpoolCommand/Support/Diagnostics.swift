import Spool

/// Lines for people on stderr, each written with one `write(2)`: `spool: error: …` and
/// `spool: warning: …`.
enum Diagnostics {
    static func error(_ message: String) {
        StandardError.write("spool: error: \(message)\n")
    }

    /// What the command is doing, for the person who started it: `spool: …`.
    static func note(_ message: String) {
        StandardError.write("spool: \(message)\n")
    }

    static func warning(_ message: String) {
        StandardError.write("spool: warning: \(message)\n")
    }
}
