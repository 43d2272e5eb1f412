import Foundation

/// Timestamp normalization: one place that turns an epoch number of unknown unit into Unix
/// nanoseconds, and nanoseconds into what each destination wants.
///
/// The unit is told by magnitude (positive values only):
///
/// | value range              | read as      | dates covered              |
/// |--------------------------|--------------|----------------------------|
/// | `0 < v < 1e11`           | seconds      | 1970-01-01 … 2262-04-11 (the 64-bit ns limit; above it: error) |
/// | `1e11 <= v < 1e14`       | milliseconds | 1973-03-03 … 2262-04-11    |
/// | `1e14 <= v < 1e17`       | microseconds | 1973-03-03 … 2262-04-11    |
/// | `1e17 <= v <= Int64.max` | nanoseconds  | 1973-03-03 … 2262-04-11    |
///
/// So a millisecond, microsecond or nanosecond value before 1973-03-03 would be read as a
/// coarser unit; such values are refused only when that reading is past 2262. Zero, negative
/// values, NaN, infinities, fractions that round to zero nanoseconds and values past
/// 2262-04-11T23:47:16Z are refused with a clear error, never turned into a wrong date.
/// Fractions are kept to the nanosecond (rounded).
package enum UnixTime {
    /// The latest representable instant: Int64.max nanoseconds, 2262-04-11T23:47:16.854775807Z.
    package static let maximumNanoseconds = Int64.max

    /// Turns an integer epoch value in s, ms, µs or ns into nanoseconds.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidTimestamp``.
    package static func nanoseconds(fromEpoch value: Int64) throws(SpoolError) -> Int64 {
        guard value > 0 else { throw invalid("\(value)", value == 0 ? "zero is not an event time" : "negative timestamps are not accepted") }
        let multiplier: Int64 = value < 100_000_000_000 ? 1_000_000_000 : value < 100_000_000_000_000 ? 1_000_000 : value < 100_000_000_000_000_000 ? 1_000 : 1
        let (result, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw invalid("\(value)", "after 2262-04-11, the latest time that fits in 64-bit nanoseconds") }
        return result
    }

    /// Turns a fractional epoch value in s, ms, µs or ns into nanoseconds, rounded to the nearest.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidTimestamp``.
    package static func nanoseconds(fromEpoch value: Double) throws(SpoolError) -> Int64 {
        guard value.isFinite else { throw invalid("\(value)", "not a finite number") }
        guard value > 0 else { throw invalid("\(value)", value == 0 ? "zero is not an event time" : "negative timestamps are not accepted") }
        guard value < 9_223_372_036_854_775_808.0 else { throw invalid("\(value)", "after 2262-04-11, the latest time that fits in 64-bit nanoseconds") }
        let multiplier = unitMultiplier(value)
        let whole = value.rounded(.towardZero)
        let (wholeNanos, overflow) = Int64(whole).multipliedReportingOverflow(by: multiplier)
        let fraction = ((value - whole) * Double(multiplier)).rounded()
        let (result, overflow2) = wholeNanos.addingReportingOverflow(Int64(fraction))
        guard !overflow, !overflow2 else { throw invalid("\(value)", "after 2262-04-11, the latest time that fits in 64-bit nanoseconds") }
        // Below half a nanosecond (found by fuzzing: 6.8e-49 gave 0): zero, refused as the
        // integer 0 is, rather than stored as the epoch itself.
        guard result > 0 else { throw invalid("\(value)", "rounds to zero nanoseconds, and zero is not an event time") }
        return result
    }

    private static func unitMultiplier(_ value: Double) -> Int64 {
        if value < 1e11 { return 1_000_000_000 }
        if value < 1e14 { return 1_000_000 }
        if value < 1e17 { return 1_000 }
        return 1
    }

    private static func invalid(_ value: String, _ why: String) -> SpoolError {
        SpoolError(.invalidTimestamp, "timestamp \(value) refused: \(why)")
    }

    // MARK: - Conversions for destinations

    /// Loki: nanoseconds as a decimal string.
    package static func decimalString(nanoseconds: Int64) -> String { String(nanoseconds) }

    /// Pushgateway, CloudWatch: milliseconds, rounded down.
    package static func milliseconds(nanoseconds: Int64) -> Int64 { nanoseconds.floorDivided(by: 1_000_000) }

    /// Seconds, with the fraction.
    package static func seconds(nanoseconds: Int64) -> Double {
        Double(nanoseconds.floorDivided(by: 1_000_000_000)) + Double(nanoseconds.floorModulo(1_000_000_000)) / 1e9
    }

    /// ISO 8601 in UTC with milliseconds, e.g. `2024-11-29T09:40:00.123Z`.
    package static func iso8601(nanoseconds: Int64) -> String {
        var writer = JSONWriter(capacity: 24)
        writeISO8601(nanoseconds: nanoseconds, to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Appends ``iso8601(nanoseconds:)``'s text to `writer`, without making a `String`.
    static func writeISO8601(nanoseconds: Int64, to writer: inout JSONWriter) {
        var seconds = time_t(nanoseconds.floorDivided(by: 1_000_000_000))
        let millis = Int32(nanoseconds.floorModulo(1_000_000_000) / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) {
            if value < 0 { writer.append(byte: UInt8(ascii: "-")) }
            let magnitude = Int64(value.magnitude)
            var digits = 1, scale: Int64 = 10
            while magnitude >= scale { digits += 1; scale *= 10 }
            for _ in 0..<max(0, width - digits) { writer.append(byte: UInt8(ascii: "0")) }
            writer.writeInt(magnitude)
        }
        pad(parts.tm_year + 1900, 4)
        writer.append(byte: UInt8(ascii: "-"))
        pad(parts.tm_mon + 1, 2)
        writer.append(byte: UInt8(ascii: "-"))
        pad(parts.tm_mday, 2)
        writer.append(byte: UInt8(ascii: "T"))
        pad(parts.tm_hour, 2)
        writer.append(byte: UInt8(ascii: ":"))
        pad(parts.tm_min, 2)
        writer.append(byte: UInt8(ascii: ":"))
        pad(parts.tm_sec, 2)
        writer.append(byte: UInt8(ascii: "."))
        pad(millis, 3)
        writer.append(byte: UInt8(ascii: "Z"))
    }
}

extension Int64 {
    package func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    package func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}

// MARK: - The calendar (HTTP dates, ingested timestamps)

extension UnixTime {
    /// Days in `month` (1–12) of `year`, Gregorian.
    package static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    package static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y.floorDivided(by: 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
