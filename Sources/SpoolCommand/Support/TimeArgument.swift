import ArgumentParser
import Foundation
import Spool

/// A point in time on the command line (`--since`, `--until`), as Unix nanoseconds:
///
/// - ISO 8601 / RFC 3339: `2026-11-29T08:00:00Z`, with optional fraction and a `Z` or `±hh:mm`
///   offset; **without a zone, local time** (`2026-11-29T08:00:00`, `2026-11-29 08:00`,
///   `2026-11-29`), as `date` and `journalctl --since` read it;
/// - a Unix number, in s, ms, µs or ns told apart by magnitude (`UnixTime`): `1764403200`;
/// - relative to now: `90s`, `30m`, `1h`, `2d` ago (a fraction is fine: `1.5h`), also written
///   with a minus sign, `--since=-1h` (with `=`, or the parser takes `-1h` for an option).
///
/// A value that is none of these is refused with what is expected (`@Option(transform:)`).
struct TimeArgument {
    var nanoseconds: Int64

    static let help = "ISO 8601 (2026-11-29T08:00:00Z; without a zone, local time: 2026-11-29T08:00), a Unix time in s/ms/µs/ns, or a duration ago (30m, 1h, 2d; or --since=-1h)"

    /// For `@Option(transform:)`: the time, or an error that says what is expected.
    static func transform(_ text: String) throws -> TimeArgument {
        if let value = parse(text, now: SystemClock().now.nanoseconds) { return TimeArgument(nanoseconds: value) }
        // A number that is no Unix time Spool takes (negative, too large): say why.
        do throws(SpoolError) {
            if let integer = Int64(text) { _ = try UnixTime.nanoseconds(fromEpoch: integer) }
        } catch {
            throw Refusal("\(text) is not a Unix time Spool takes: \(error.message)")
        }
        if TimeText.looksLikeDate(text) {
            throw Refusal("not a date and time Spool reads: expected YYYY-MM-DD, then optionally Thh:mm[:ss[.fraction]] and a zone (Z, +01:00); without a zone it is local time")
        }
        throw Refusal("expected \(help)")
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

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
        // 0 is no event time, but as a bound it is the epoch: `--since 0` is everything.
        if let integer = Int64(text) { return integer == 0 ? 0 : try? UnixTime.nanoseconds(fromEpoch: integer) }
        if let number = Double(text) { return try? UnixTime.nanoseconds(fromEpoch: number) }
        return TimeText.nanoseconds(text)
    }

    private static let scales: [Character: Double] = ["s": 1e9, "m": 60e9, "h": 3600e9, "d": 86400e9]
}
