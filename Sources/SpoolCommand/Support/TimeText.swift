import Foundation
// tools/fuzz compiles this file in a package of its own, which reaches Spool's package
// declarations as a test does (built with -enable-testing and -DSPOOL_FUZZ).
#if SPOOL_FUZZ
@testable import Spool
#else
import Spool
#endif

/// Dates and times written as text, as loggers and people write them: ISO 8601 / RFC 3339.
///
/// `YYYY-MM-DD`, optionally followed by `T` (or `t`, or a space) and `hh:mm`, `:ss`, a fraction
/// after `.` or `,` (any number of digits; nanoseconds are kept, further digits ignored), and a
/// zone: `Z`, `±hh:mm`, `±hhmm` or `±hh`. A time without a zone is **local time** (the `TZ`
/// environment variable, else the system's zone), as Python's `asctime` and people at a
/// terminal mean it; a date alone is local midnight.
enum TimeText {
    /// Unix nanoseconds, or nil when `text` is not such a date (or falls outside 1677…2262,
    /// what 64-bit nanoseconds hold).
    static func nanoseconds(_ text: some StringProtocol) -> Int64? {
        var bytes = Array(text.utf8)[...]
        func number(_ digits: Int) -> Int? {
            guard bytes.count >= digits else { return nil }
            var value = 0
            for byte in bytes.prefix(digits) {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            bytes = bytes.dropFirst(digits)
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard bytes.first == byte else { return false }
            bytes = bytes.dropFirst()
            return true
        }
        guard let year = number(4), take(0x2D), let month = number(2), take(0x2D), let day = number(2) else { return nil }
        guard (1...12).contains(month), day >= 1, Int64(day) <= UnixTime.daysIn(month: Int64(month), year: Int64(year)) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction: Int64 = 0
        if let separator = bytes.first, separator == 0x54 || separator == 0x74 || separator == 0x20 {
            bytes = bytes.dropFirst()
            guard let h = number(2), take(0x3A), let m = number(2) else { return nil }
            hour = h
            minute = m
            if take(0x3A) {
                guard let s = number(2) else { return nil }
                second = s
                if let mark = bytes.first, mark == 0x2E || mark == 0x2C {
                    bytes = bytes.dropFirst()
                    var digits = 0
                    while let byte = bytes.first, byte >= 0x30 && byte <= 0x39 {
                        if digits < 9 { fraction = fraction * 10 + Int64(byte - 0x30) }
                        digits += 1
                        bytes = bytes.dropFirst()
                    }
                    guard digits > 0 else { return nil }
                    if digits < 9 { for _ in digits..<9 { fraction *= 10 } }
                }
            }
            guard hour <= 23, minute <= 59, second <= 60 else { return nil }
        }
        var offset: Int?
        if take(0x5A) || take(0x7A) {
            offset = 0
        } else if let sign = bytes.first, sign == 0x2B || sign == 0x2D {
            bytes = bytes.dropFirst()
            guard let hours = number(2), hours <= 23 else { return nil }
            var minutes = 0
            if take(0x3A) {
                guard let m = number(2) else { return nil }
                minutes = m
            } else if !bytes.isEmpty {
                guard let m = number(2) else { return nil }
                minutes = m
            }
            guard minutes <= 59 else { return nil }
            offset = (hours * 3600 + minutes * 60) * (sign == 0x2D ? -1 : 1)
        }
        guard bytes.isEmpty else { return nil }

        let seconds: Int64
        if let offset {
            let days = UnixTime.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
            seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        } else {
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month - 1)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            parts.tm_isdst = -1
            let local = mktime(&parts)
            guard local != -1 || (year == 1969 && month == 12 && day == 31) else { return nil }
            seconds = Int64(local)
        }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (result, overflow2) = whole.addingReportingOverflow(fraction)
        return overflow || overflow2 ? nil : result
    }

    /// Whether `text` looks like an attempt at a date (starts with four digits and `-`), so a
    /// refusal can say what is expected.
    static func looksLikeDate(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8.prefix(5))
        return bytes.count == 5 && bytes.prefix(4).allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && bytes[4] == 0x2D
    }

}
