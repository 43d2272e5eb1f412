import FuzzSupport
@testable import Spool
@testable import SpoolForwarding

// Retry-After parsing (RFC 9110 §10.2.3): bytes a server chose. Properties: the wait is nil or
// never negative; delay-seconds read exactly (saturating); a date-form value measured against
// itself as the response's Date is zero and does not depend on our clock within a year; and
// every instant from year 1 to 9999, spelled in each of the three HTTP-date forms by an
// independent formatter, reads back to the second.

@main enum FuzzRetryAfter {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var fields = FieldReader(input(data, count))
    let seed = fields.uint64()
    checkRoundTrips(seed)
    checkValue(String(decoding: input(data, count), as: UTF8.self))
    checkValue(String(decoding: UnsafeBufferPointer(rebasing: fields.rest), as: UTF8.self))
    return 0
}

/// 2024-06-15T12:00:00Z and the same day at noon a week later: one year, so RFC 850 years agree.
let now = UnixInstant(nanoseconds: 1_718_452_800_000_000_000)
let laterSameYear = UnixInstant(nanoseconds: 1_719_057_600_000_000_000)

func checkValue(_ value: String) {
    let wait = RetryAfter.parse(value, responseDate: nil, now: now)
    if let wait { expect(wait >= .zero, "\(value.debugDescription) gave a negative wait \(wait)") }

    let trimmed = Array(value.utf8).drop(while: { $0 == 0x20 || $0 == 0x09 }).reversed().drop(while: { $0 == 0x20 || $0 == 0x09 }).reversed()
    let digits = trimmed.first == UInt8(ascii: "-") ? Array(trimmed.dropFirst()) : Array(trimmed)
    if !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }) {
        // The standard library's reading, as the oracle: all digits, so nil means too large.
        let seconds = Int64(String(decoding: digits, as: UTF8.self)) ?? .max
        let expected: Duration = trimmed.first == UInt8(ascii: "-") ? .zero : .seconds(seconds)
        expect(wait == expected, "\(value.debugDescription) gave \(String(describing: wait)), expected \(expected)")
        return
    }
    guard wait != nil else { return }
    // A date: against itself it is now, whatever our clock says.
    let againstItself = RetryAfter.parse(value, responseDate: value, now: now)
    expect(againstItself == .zero, "\(value.debugDescription) against itself gave \(String(describing: againstItself))")
    let origin = "Sat, 15 Jun 2024 11:00:00 GMT"
    let first = RetryAfter.parse(value, responseDate: origin, now: now)
    let second = RetryAfter.parse(value, responseDate: origin, now: laterSameYear)
    expect(first == second, "\(value.debugDescription): the response's Date did not make the clock irrelevant")
}

func checkRoundTrips(_ seed: UInt64) {
    // Year 1 to 9999, any second.
    let first: Int64 = -62_135_596_800  // 0001-01-01T00:00:00Z
    let last: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z
    let target = first + Int64(seed % UInt64(last - first + 1))
    let date = Civil.date(unixSeconds: target)
    let time = "\(Civil.pad(date.hour, 2)):\(Civil.pad(date.minute, 2)):\(Civil.pad(date.second, 2))"
    let month = Civil.monthNames[Int(date.month - 1)]
    let imf = "\(Civil.dayNames[Int(date.weekday)]), \(Civil.pad(date.day, 2)) \(month) \(Civil.pad(date.year, 4)) \(time) GMT"
    let asctime = "\(Civil.dayNames[Int(date.weekday)]) \(month) \(date.day < 10 ? " " : "")\(date.day) \(time) \(Civil.pad(date.year, 4))"
    // The response's Date one second after the epoch of its own second: the wait is target - origin.
    let origin = "Thu, 01 Jan 1970 00:00:00 GMT"
    for spelling in [imf, asctime] {
        let wait = RetryAfter.parse(spelling, responseDate: origin, now: now)
        expect(wait == .seconds(max(0, target)), "\(spelling) read as \(String(describing: wait)), expected \(max(0, target)) s")
        let reverse = RetryAfter.parse(origin, responseDate: spelling, now: now)
        expect(reverse == .seconds(max(0, -target)), "\(spelling) as the Date read as \(String(describing: reverse))")
    }
    // RFC 850 has a two-digit year, resolved within 50 years of now's year (2024): 1975 to 2074.
    if (1975...2073).contains(date.year) {
        let rfc850 = "\(Civil.longDayNames[Int(date.weekday)]), \(Civil.pad(date.day, 2))-\(month)-\(Civil.pad(date.year % 100, 2)) \(time) GMT"
        let wait = RetryAfter.parse(rfc850, responseDate: origin, now: now)
        expect(wait == .seconds(target), "\(rfc850) read as \(String(describing: wait)), expected \(target) s")
    }
}
