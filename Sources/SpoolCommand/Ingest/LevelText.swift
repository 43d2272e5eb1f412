// tools/fuzz compiles this file in a package of its own, which reaches Spool's package
// declarations as a test does (built with -enable-testing and -DSPOOL_FUZZ).
#if SPOOL_FUZZ
@testable import Spool
#else
import Spool
#endif

/// Levels as loggers write them, mapped onto Spool's seven.
///
/// - Names, any case: Spool's own and `warn`, `fatal`; zap's `dpanic`, `panic`; syslog's
///   `err`, `crit`, `alert`, `emerg`/`emergency`; Serilog's `verbose` (→ trace), `information`;
///   winston's `silly` (→ trace), `http` (→ debug); Google Cloud's `notice`, `alert`,
///   `emergency` (`default` means none given). A suffix `+N`/`-N` (slog's `ERROR+2`) counts as
///   its base name.
/// - Numbers (or digit strings): 0–7 are syslog priorities (journald `PRIORITY`: 0–2 critical,
///   3 error, 4 warning, 5 notice, 6 info, 7 debug); 10 and above are pino's and bunyan's scale
///   (10 trace, 20 debug, 30 info, 40 warning, 50 error, 60 and above critical; values between
///   go to the level below).
enum LevelText {
    static func level(_ value: JSONValue, key: String) -> LogLevel? {
        switch value {
        case .int(let number): return level(number: number)
        case .double(let number):
            guard number.isFinite, number == number.rounded(), let whole = Int64(exactly: number) else { return nil }
            return level(number: whole)
        case .string(let text): return level(name: text)
        default: return nil
        }
    }

    /// `DEFAULT` (Google Cloud) and an empty string: no level given.
    static func isDefault(_ text: String) -> Bool {
        let trimmed = text.trimmingWhitespace
        return trimmed.isEmpty || trimmed.lowercased() == "default"
    }

    static func level(name text: String) -> LogLevel? {
        var name = Substring(text.trimmingWhitespace)
        if let number = Int64(name) { return level(number: number) }
        // slog: ERROR+2, DEBUG-4.
        if let sign = name.lastIndex(where: { $0 == "+" || $0 == "-" }), sign != name.startIndex,
           !name[name.index(after: sign)...].isEmpty, name[name.index(after: sign)...].allSatisfy(\.isNumber) {
            name = name[..<sign]
        }
        if let level = LogLevel(parsing: name) { return level }
        switch name.lowercased() {
        case "verbose", "silly": return .trace
        case "http": return .debug
        case "information": return .info
        case "err": return .error
        case "crit", "alert", "emerg", "emergency", "panic", "dpanic": return .critical
        default: return nil
        }
    }

    static func level(number: Int64) -> LogLevel? {
        switch number {
        case 0...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        case 7: .debug
        case 10..<20: .trace
        case 20..<30: .debug
        case 30..<40: .info
        case 40..<50: .warning
        case 50..<60: .error
        case 60...: .critical
        default: nil
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
