import Testing
@testable import Spool

@Suite struct UnixTimeTests {
    static let ns: Int64 = 1_732_873_200_123_456_789

    @Test func eachUnitIsRecognisedByMagnitude() throws {
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(1_732_873_200)) == 1_732_873_200_000_000_000)
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(1_732_873_200_123)) == 1_732_873_200_123_000_000)
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(1_732_873_200_123_456)) == 1_732_873_200_123_456_000)
        #expect(try UnixTime.nanoseconds(fromEpoch: Self.ns) == Self.ns)
    }

    @Test func boundariesBetweenUnits() throws {
        // Just below 1e11 is seconds (and past 2262, so refused); 1e11 is milliseconds.
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: Int64(99_999_999_999)) }
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(100_000_000_000)) == 100_000_000_000_000_000)
        // The top of the ms and µs ranges is past 2262: refused, not wrapped.
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: Int64(99_999_999_999_999)) }
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(100_000_000_000_000)) == 100_000_000_000_000_000)
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: Int64(99_999_999_999_999_999)) }
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(100_000_000_000_000_000)) == 100_000_000_000_000_000)
        // The last second that fits in 64-bit nanoseconds, and the first that does not.
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(9_223_372_036)) == 9_223_372_036_000_000_000)
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: Int64(9_223_372_037)) }
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64.max) == Int64.max)
        #expect(try UnixTime.nanoseconds(fromEpoch: Int64(1)) == 1_000_000_000)
    }

    @Test(arguments: [Int64(0), -1, -1_732_873_200, .min])
    func zeroAndNegativeAreRefused(_ value: Int64) {
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: value) }
    }

    @Test func fractionsAreKeptToTheNanosecond() throws {
        #expect(try UnixTime.nanoseconds(fromEpoch: 1_732_873_200.5) == 1_732_873_200_500_000_000)
        #expect(try UnixTime.nanoseconds(fromEpoch: 1_732_873_200_123.25) == 1_732_873_200_123_250_000)
        #expect(try UnixTime.nanoseconds(fromEpoch: 0.25) == 250_000_000)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, 0, -0.5, 9.3e18, 1e30])
    func nonFiniteAndOutOfRangeDoublesAreRefused(_ value: Double) {
        #expect(throws: SpoolError.self) { try UnixTime.nanoseconds(fromEpoch: value) }
    }

    @Test func conversionsForDestinations() {
        #expect(UnixTime.decimalString(nanoseconds: Self.ns) == "1732873200123456789")
        #expect(UnixTime.milliseconds(nanoseconds: Self.ns) == 1_732_873_200_123)
        #expect(UnixTime.milliseconds(nanoseconds: -1) == -1)
        #expect(UnixTime.seconds(nanoseconds: 1_500_000_000) == 1.5)
        #expect(UnixTime.iso8601(nanoseconds: Self.ns) == "2024-11-29T09:40:00.123Z")
        #expect(UnixTime.iso8601(nanoseconds: 0) == "1970-01-01T00:00:00.000Z")
    }
}
