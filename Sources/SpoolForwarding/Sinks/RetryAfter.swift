import Spool

/// The HTTP `Retry-After` header (RFC 9110 §10.2.3): how long a destination asks us to wait.
///
/// Both forms are read: delay-seconds (`120`) first, then an HTTP-date in its three spellings,
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`). Dates are
/// parsed by hand, in ASCII, so the process locale and time zone never matter, and no input
/// can trap: this runs on bytes a server chose.
///
/// ```swift
/// RetryAfter.parse("120", responseDate: nil, now: now)                         // 120 s
/// RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT",
///                  responseDate: "Sun, 06 Nov 1994 08:48:37 GMT", now: now)    // 60 s
/// ```
package enum RetryAfter: Sendable {
    /// The wait a `Retry-After` value asks for.
    ///
    /// - Parameters:
    ///   - value: The header's value.
    ///   - responseDate: The response's `Date` header, if any. A date-form value is measured
    ///     from it, so that our clock's skew does not matter; when it is absent or unreadable,
    ///     from `now`.
    ///   - now: When the response was received.
    /// - Returns: The wait, zero for a date in the past or a negative number of seconds, or nil
    ///   when the value is not a `Retry-After` at all (the caller then uses its own backoff).
    ///   Seconds beyond 64 bits saturate; capping the wait is the scheduler's job.
    package static func parse(_ value: String, responseDate: String?, now: UnixInstant) -> Duration? {
        parse(value, responseDate: responseDate, reference: now)
    }

    /// As ``parse(_:responseDate:now:)``, with no clock reading available: a date-form value
    /// is then only usable against the response's `Date` header.
    static func parse(_ value: String, responseDate: String?, reference now: UnixInstant?) -> Duration? {
        let text = Array(value.utf8).trimmingASCIISpaces()
        guard !text.isEmpty else { return nil }
        if let seconds = delaySeconds(text) { return .seconds(max(0, seconds)) }
        let referenceYear = now.map { HTTPDate.year(ofUnixSeconds: $0.nanoseconds.floorDivided(by: 1_000_000_000)) }
        guard let target = HTTPDate.parse(text, referenceYear: referenceYear) else { return nil }
        let origin: Int64
        if let responseDate, let date = HTTPDate.parse(Array(responseDate.utf8).trimmingASCIISpaces(), referenceYear: referenceYear) {
            origin = date
        } else if let now {
            origin = now.nanoseconds.floorDivided(by: 1_000_000_000)
        } else {
            return nil
        }
        return .seconds(max(0, target - origin))
    }

    /// `1*DIGIT`, and, as protocols.md §5 asks, a negative integer (read as "now"). Saturates
    /// instead of overflowing.
    private static func delaySeconds(_ text: [UInt8]) -> Int64? {
        var digits = text[...]
        var negative = false
        if digits.first == UInt8(ascii: "-") {
            negative = true
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var result: Int64 = 0
        for digit in digits {
            let (times, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit - 0x30))
            if overflow1 || overflow2 { result = .max; break }
            result = sum
        }
        return negative ? -result : result
    }
}

/// HTTP-date (RFC 9110 §5.6.7) to Unix seconds, in its three forms, ASCII only.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let shortDays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    private static let longDays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Unix seconds, or nil. `referenceYear` resolves RFC 850's two-digit year (a year more
    /// than 50 years ahead means the century before); without it, 70–99 are 19xx, 00–69 20xx.
    static func parse(_ text: [UInt8], referenceYear: Int64?) -> Int64? {
        let tokens = text.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { Array($0) }
        guard let first = tokens.first else { return nil }
        if first.last == UInt8(ascii: ","), let day = lowercased(first.dropLast()) {
            if tokens.count == 6, shortDays.contains(day) {
                // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
                guard isGMT(tokens[5]), tokens[1].count == 2, tokens[3].count == 4,
                      let mday = number(tokens[1]), let month = month(tokens[2]), let year = number(tokens[3])
                else { return nil }
                return seconds(year: year, month: month, day: mday, time: tokens[4])
            }
            if tokens.count == 4, longDays.contains(day) {
                // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
                let parts = tokens[1].split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
                guard isGMT(tokens[3]), parts.count == 3, parts[0].count == 2, parts[2].count == 2,
                      let mday = number(parts[0]), let month = month(parts[1]), let yy = number(parts[2])
                else { return nil }
                return seconds(year: fullYear(twoDigit: yy, reference: referenceYear), month: month, day: mday, time: tokens[2])
            }
            return nil
        }
        // asctime: Sun Nov  6 08:49:37 1994 (the day padded with a space, or a zero)
        guard tokens.count == 5, let day = lowercased(first[...]), shortDays.contains(day),
              tokens[2].count <= 2, tokens[4].count == 4,
              let month = month(tokens[1]), let mday = number(tokens[2]), let year = number(tokens[4])
        else { return nil }
        return seconds(year: year, month: month, day: mday, time: tokens[3])
    }

    /// The proleptic Gregorian year of a Unix time (days-to-civil, Howard Hinnant).
    static func year(ofUnixSeconds seconds: Int64) -> Int64 {
        let days = seconds.floorDivided(by: 86_400) + 719_468
        let era = days.floorDivided(by: 146_097)
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        return yearOfEra + era * 400 + (monthIndex >= 10 ? 1 : 0)
    }

    private static func fullYear(twoDigit yy: Int64, reference: Int64?) -> Int64 {
        guard let reference else { return yy >= 70 ? 1900 + yy : 2000 + yy }
        var year = reference - reference.floorModulo(100) + yy
        if year > reference + 50 { year -= 100 }
        return year
    }

    private static func seconds(year: Int64, month: Int64, day: Int64, time: [UInt8]) -> Int64? {
        let parts = time.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 }),
              let hour = number(parts[0]), let minute = number(parts[1]), let second = number(parts[2]),
              hour < 24, minute < 60, second <= 60,  // 60: a leap second
              (1...9999).contains(year), (1...UnixTime.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        return UnixTime.daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    private static func month(_ token: some Collection<UInt8>) -> Int64? {
        guard token.count == 3, let name = lowercased(token), let index = months.firstIndex(of: name) else { return nil }
        return Int64(index + 1)
    }

    private static func isGMT(_ token: [UInt8]) -> Bool { token == Array("GMT".utf8) }

    /// 1 to 4 ASCII digits.
    private static func number(_ token: some Collection<UInt8>) -> Int64? {
        guard (1...4).contains(token.count) else { return nil }
        var result: Int64 = 0
        for byte in token {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            result = result * 10 + Int64(byte - 0x30)
        }
        return result
    }

    /// ASCII letters lowercased, or nil for anything else.
    private static func lowercased(_ token: some Collection<UInt8>) -> String? {
        guard !token.isEmpty, token.count <= 9 else { return nil }
        var output = ""
        for byte in token {
            switch byte {
            case 0x41...0x5A: output.unicodeScalars.append(Unicode.Scalar(byte + 0x20))
            case 0x61...0x7A: output.unicodeScalars.append(Unicode.Scalar(byte))
            default: return nil
            }
        }
        return output
    }
}

extension Array where Element == UInt8 {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    func trimmingASCIISpaces() -> [UInt8] {
        guard let start = firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
              let end = lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return [] }
        return Array(self[start...end])
    }
}
