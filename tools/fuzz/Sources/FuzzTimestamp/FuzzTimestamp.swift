import FuzzSupport
@testable import Spool

// Timestamp normalization (UnixTime): an epoch number of unknown unit to Unix nanoseconds, as
// `spool ingest` reads `"timestamp"`, and the conversions every destination uses. Properties:
// the unit is the one the magnitude table promises, the value is exact (integers) or within
// rounding (fractions), every refusal is an `invalidTimestamp` error with a message, integral
// doubles agree with integers, and the ISO 8601 form names the same second.

@main enum FuzzTimestamp {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var fields = FieldReader(input(data, count))
    let integer = Int64(bitPattern: fields.uint64())
    checkInteger(integer)
    checkDouble(Double(bitPattern: fields.uint64()))
    checkDouble(Double(integer))
    // The rest as JSON number text, as ingest reads it.
    if let value = try? JSONValue(parsing: UnsafeBufferPointer(rebasing: fields.rest)) {
        switch value {
        case .int(let number): checkInteger(number)
        case .double(let number): checkDouble(number)
        default: break
        }
    }
    return 0
}

func multiplier(_ magnitude: Double) -> Int64 {
    magnitude < 1e11 ? 1_000_000_000 : magnitude < 1e14 ? 1_000_000 : magnitude < 1e17 ? 1_000 : 1
}

func checkInteger(_ value: Int64) {
    // Compared as integers: Double(99_999_999_999_999_999) is 1e17, a unit too fine (this
    // target's own mistake, found by it).
    let unit: Int64 = value < 100_000_000_000 ? 1_000_000_000 : value < 100_000_000_000_000 ? 1_000_000
        : value < 100_000_000_000_000_000 ? 1_000 : 1
    let (expected, overflow) = value.multipliedReportingOverflow(by: unit)
    do throws(SpoolError) {
        let nanoseconds = try UnixTime.nanoseconds(fromEpoch: value)
        expect(value > 0 && !overflow && nanoseconds == expected, "\(value) gave \(nanoseconds), expected \(expected)")
        checkConversions(nanoseconds)
        // An integral double below 2^53 is exact: both overloads must agree.
        if value < 1 << 53 {
            let viaDouble = try? UnixTime.nanoseconds(fromEpoch: Double(value))
            expect(viaDouble == nanoseconds, "\(value): Int64 gave \(nanoseconds), Double gave \(String(describing: viaDouble))")
        }
    } catch {
        expectClear(error, code: .invalidTimestamp)
        expect(value <= 0 || overflow, "\(value) refused: \(error.message)")
    }
}

func checkDouble(_ value: Double) {
    do throws(SpoolError) {
        let nanoseconds = try UnixTime.nanoseconds(fromEpoch: value)
        expect(value.isFinite && value > 0, "\(value) accepted as \(nanoseconds)")
        let exact = value * Double(multiplier(value))
        // Within half a nanosecond plus the double's own precision at that magnitude.
        let tolerance = 0.5 + exact.ulp * 2
        expect(abs(Double(nanoseconds) - exact) <= tolerance, "\(value) gave \(nanoseconds), expected about \(exact)")
        expect(nanoseconds > 0, "\(value) gave a non-positive \(nanoseconds)")
        checkConversions(nanoseconds)
    } catch {
        expectClear(error, code: .invalidTimestamp)
        let scaled = value * Double(multiplier(value))
        // Refused: not finite, not positive, rounding to zero nanoseconds, or past Int64
        // nanoseconds (at the edges, rounding decides).
        expect(!value.isFinite || value <= 0 || scaled <= 0.5 || scaled >= 9.2233720368547e18, "\(value) refused: \(error.message)")
    }
}

/// Milliseconds, seconds and ISO 8601 of an accepted time name the same instant.
func checkConversions(_ nanoseconds: Int64) {
    expect(UnixTime.milliseconds(nanoseconds: nanoseconds) == nanoseconds / 1_000_000, "milliseconds of \(nanoseconds)")
    let seconds = UnixTime.seconds(nanoseconds: nanoseconds)
    expect(abs(seconds - Double(nanoseconds) / 1e9) <= seconds.ulp * 2, "seconds of \(nanoseconds): \(seconds)")
    expect(UnixTime.decimalString(nanoseconds: nanoseconds) == String(nanoseconds), "decimal string of \(nanoseconds)")
    let date = Civil.date(unixSeconds: nanoseconds / 1_000_000_000)
    let millis = nanoseconds % 1_000_000_000 / 1_000_000
    let expected = "\(Civil.pad(date.year, 4))-\(Civil.pad(date.month, 2))-\(Civil.pad(date.day, 2))T"
        + "\(Civil.pad(date.hour, 2)):\(Civil.pad(date.minute, 2)):\(Civil.pad(date.second, 2)).\(Civil.pad(millis, 3))Z"
    let iso = UnixTime.iso8601(nanoseconds: nanoseconds)
    expect(iso == expected, "ISO 8601 of \(nanoseconds): \(iso), expected \(expected)")
}
