import ArgumentParser
import Foundation
import Spool

/// A point in time on the command line (`--since`, `--until`), as Unix nanoseconds:
///
/// - ISO 8601: `2026-11-29T08:00:00Z`, with optional fraction and a `Z` or `±hh:mm` offset;
/// - a Unix number, in s, ms, µs or ns told apart by magnitude (`UnixTime`): `1764403200`;
/// - relative to now: `90s`, `30m`, `1h`, `2d` ago (a fraction is fine: `1.5h`), also written
///   with a minus sign, `--since=-1h` (with `=`, or the parser takes `-1h` for an option).
struct TimeArgument: ExpressibleByArgument {
    var nanoseconds: Int64

    init?(argument: String) {
        guard let value = Self.parse(argument, now: SystemClock().now.nanoseconds) else { return nil }
        nanoseconds = value
    }

    static let help = "ISO 8601 (2026-11-29T08:00:00Z), a Unix time in s/ms/µs/ns, or a duration ago (30m, 1h, 2d; or --since=-1h)"

    static func parse(_ text: String, now: Int64) -> Int64? {
        // `-1h` (which the shell form `--since=-1h` needs) or `1h`: both an hour ago.
        let ago = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        if let unit = ago.last, let scale = Self.scales[unit],
           let amount = Double(ago.dropLast()), amount.isFinite, amount >= 0 {
            // Beyond Int64 nanoseconds (about 292 years) is a typo, not a time: refused.
            guard let span = Int64(exactly: (amount * scale).rounded()) else { return nil }
            let (time, overflow) = now.subtractingReportingOverflow(span)
            return overflow ? nil : time
        }
        if let integer = Int64(text) { return try? UnixTime.nanoseconds(fromEpoch: integer) }
        if let number = Double(text) { return try? UnixTime.nanoseconds(fromEpoch: number) }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                return Int64(exactly: (date.timeIntervalSince1970 * 1e9).rounded())
            }
        }
        return nil
    }

    private static let scales: [Character: Double] = ["s": 1e9, "m": 60e9, "h": 3600e9, "d": 86400e9]
}
