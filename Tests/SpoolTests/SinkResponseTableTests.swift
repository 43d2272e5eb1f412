import Testing
@testable import Spool
@testable import SpoolForwarding

/// Every row of each protocol's table (protocols.md §0 and §4), run through the sinks'
/// `classify`, and `Retry-After` in all its forms (§5).
@Suite struct SinkResponseTableTests {
    static let loki = try! LokiSink(configuration: .init(url: "http://127.0.0.1:3100"))
    static let ndjson = NDJSONSink(configuration: .init(url: "http://127.0.0.1:9000/ingest"))
    static let otlp = try! OTLPSink(configuration: .init(url: "http://127.0.0.1:4318"))
    static let pagerDuty = try! PagerDutySink(configuration: .init(routingKey: "0123456789abcdef0123456789abcdef", source: "host-7"))

    /// The general rule, written from protocols.md's cheat sheet, not from ResponseTable.
    static let generalRows: [(Int, String)] = [
        (200, "delivered"), (201, "delivered"), (202, "delivered"), (204, "delivered"), (260, "delivered"),
        (400, "rejected"), (401, "misconfigured"), (403, "misconfigured"), (404, "misconfigured"),
        (405, "rejected"), (408, "retry"), (409, "rejected"), (410, "rejected"), (413, "tooLarge"),
        (415, "rejected"), (422, "rejected"), (429, "retry"), (451, "rejected"), (499, "rejected"),
        (500, "retry"), (501, "retry"), (502, "retry"), (503, "retry"), (504, "retry"), (507, "retry"), (599, "retry"),
        (100, "misconfigured"), (301, "misconfigured"), (302, "misconfigured"), (0, "misconfigured"), (600, "misconfigured"), (-1, "misconfigured"),
    ]

    /// OTLP: only 429/502/503/504 retry; 500, 501 and 408 are permanent.
    static let otlpRows: [(Int, String)] = [
        (200, "delivered"), (202, "delivered"), (204, "delivered"),
        (400, "rejected"), (401, "misconfigured"), (403, "misconfigured"), (404, "misconfigured"),
        (405, "rejected"), (408, "rejected"), (409, "rejected"), (413, "tooLarge"), (422, "rejected"), (429, "retry"), (499, "rejected"),
        (500, "rejected"), (501, "rejected"), (502, "retry"), (503, "retry"), (504, "retry"), (505, "rejected"), (599, "rejected"),
        (301, "misconfigured"), (0, "misconfigured"),
    ]

    @Test(arguments: generalRows)
    func lokiNDJSONAndPagerDutyFollowTheGeneralRule(_ status: Int, _ expected: String) {
        let response = SinkResponse(status: status, body: Array("nope".utf8))
        #expect(SinkFixtures.name(Self.loki.classify(response)) == expected, "Loki \(status)")
        #expect(SinkFixtures.name(Self.ndjson.classify(response)) == expected, "NDJSON \(status)")
        #expect(SinkFixtures.name(Self.pagerDuty.classify(response)) == expected, "PagerDuty \(status)")
    }

    @Test(arguments: otlpRows)
    func otlpRetriesOnlyWhatItsSpecificationAllows(_ status: Int, _ expected: String) {
        let response = SinkResponse(status: status, body: Array("{}".utf8))
        #expect(SinkFixtures.name(Self.otlp.classify(response)) == expected)
    }

    @Test func reasonCarriesTheStatusAndABoundedOneLineExcerpt() {
        let body = "line one\nline two\r\n" + String(repeating: "x", count: 5000)
        guard case .rejected(let reason) = Self.loki.classify(SinkResponse(status: 400, body: Array(body.utf8))) else {
            Issue.record("400 must be rejected")
            return
        }
        #expect(reason.hasPrefix("HTTP 400: line one line two xxx"))
        #expect(!reason.contains("\n"))
        #expect(reason.utf8.count < 600)
        guard case .misconfigured(let redirect) = Self.loki.classify(SinkResponse(status: 301, headers: [.init("Location", "https://loki/")])) else {
            Issue.record("301 must be misconfigured")
            return
        }
        #expect(redirect == "HTTP 301 (Location: https://loki/)")
    }

    // MARK: - Retry-After in a verdict

    @Test(arguments: [429, 503])
    func retryAfterSecondsReplaceTheBackoffOn429And503(_ status: Int) {
        let response = SinkResponse(status: status, headers: [.init("retry-after", "7")])
        #expect(Self.loki.classify(response) == .retry(after: .seconds(7), reason: "HTTP \(status)"))
        #expect(Self.otlp.classify(response) == .retry(after: .seconds(7), reason: "HTTP \(status)"))
    }

    @Test func retryAfterIsIgnoredOnOtherRetryableStatuses() {
        let response = SinkResponse(status: 502, headers: [.init("Retry-After", "7")])
        #expect(Self.loki.classify(response) == .retry(after: nil, reason: "HTTP 502"))
    }

    @Test func retryAfterNeverMakesAPermanentErrorRetryable() {
        let headers = [SinkRequest.Header("Retry-After", "7")]
        #expect(SinkFixtures.name(Self.otlp.classify(SinkResponse(status: 500, headers: headers))) == "rejected")
        #expect(SinkFixtures.name(Self.loki.classify(SinkResponse(status: 413, headers: headers))) == "tooLarge")
        #expect(SinkFixtures.name(Self.loki.classify(SinkResponse(status: 400, headers: headers))) == "rejected")
    }

    @Test func retryAfterDateIsMeasuredFromReceivedAtWithoutADateHeader() {
        let received = UnixInstant(nanoseconds: 784_111_777 * 1_000_000_000)
        let response = SinkResponse(status: 503, headers: [.init("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")], receivedAt: received)
        #expect(Self.loki.classify(response) == .retry(after: .seconds(30), reason: "HTTP 503"))
        // With no clock reading and no Date header, a date cannot be used: backoff applies.
        let unanchored = SinkResponse(status: 503, headers: [.init("Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT")])
        #expect(Self.loki.classify(unanchored) == .retry(after: nil, reason: "HTTP 503"))
    }

    @Test func garbageRetryAfterFallsBackToBackoff() {
        let response = SinkResponse(status: 429, headers: [.init("Retry-After", "soon")])
        #expect(Self.loki.classify(response) == .retry(after: nil, reason: "HTTP 429"))
    }

    // MARK: - RetryAfter.parse

    /// 1994-11-06T08:49:37Z, RFC 9110's example instant.
    static let now = UnixInstant(nanoseconds: 784_111_777 * 1_000_000_000)

    @Test(arguments: [
        ("120", Int64(120)), ("0", 0), (" 120\t", 120), ("-5", 0), ("007", 7),
        ("99999999999999999999999", Int64.max),
    ])
    func delaySeconds(_ value: String, _ seconds: Int64) {
        #expect(RetryAfter.parse(value, responseDate: nil, now: Self.now) == .seconds(seconds))
    }

    @Test(arguments: [
        "Sun, 06 Nov 1994 08:51:37 GMT",  // IMF-fixdate
        "Sunday, 06-Nov-94 08:51:37 GMT",  // RFC 850
        "Sun Nov  6 08:51:37 1994",  // asctime, day padded with a space
        "Sun Nov 06 08:51:37 1994",  // asctime, day padded with a zero
        "sun, 06 nov 1994 08:51:37 GMT",  // names case-insensitively
    ])
    func allThreeDateFormsAreRead(_ value: String) {
        #expect(RetryAfter.parse(value, responseDate: nil, now: Self.now) == .seconds(120))
    }

    @Test func aDateIsMeasuredFromTheResponsesDateHeaderNotOurClock() {
        let skewed = UnixInstant(nanoseconds: Self.now.nanoseconds + 3_600_000_000_000)  // our clock an hour ahead
        let wait = RetryAfter.parse("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: "Sun, 06 Nov 1994 08:50:37 GMT", now: skewed)
        #expect(wait == .seconds(60))
        // An unreadable Date header falls back to our clock.
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:51:37 GMT", responseDate: "yesterday", now: Self.now) == .seconds(120))
    }

    @Test(arguments: ["Sun, 06 Nov 1994 08:00:00 GMT", "Sunday, 06-Nov-94 08:49:36 GMT", "Thu Jan  1 00:00:00 1970"])
    func aPastDateMeansNow(_ value: String) {
        #expect(RetryAfter.parse(value, responseDate: nil, now: Self.now) == .zero)
    }

    @Test func leapDaysAndTwoDigitYearsAreResolved() {
        let y2024 = UnixInstant(nanoseconds: 1_709_164_800 * 1_000_000_000)  // 2024-02-29T00:00:00Z
        #expect(RetryAfter.parse("Thu, 29 Feb 2024 00:00:10 GMT", responseDate: nil, now: y2024) == .seconds(10))
        // RFC 850's two-digit year: 27 is 2027 from 2024 (not 1927); 99 is 1999 (in the past).
        #expect(RetryAfter.parse("Friday, 01-Jan-27 00:00:00 GMT", responseDate: nil, now: y2024) == .seconds(1_798_761_600 - 1_709_164_800))
        #expect(RetryAfter.parse("Friday, 31-Dec-99 23:59:59 GMT", responseDate: nil, now: y2024) == .zero)
    }

    @Test(arguments: [
        "", "   ", "soon", "1.5", "+5", "120s", "12 0", "0x10", "-", "--5",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Wed, 29 Feb 2023 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37",
        "Sun Nov  6 08:49:37", "Nov  6 08:49:37 1994 Sun", "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT", "Sün, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT extra",
    ])
    func garbageIsNotARetryAfter(_ value: String) {
        #expect(RetryAfter.parse(value, responseDate: nil, now: Self.now) == nil)
    }

    @Test func arbitraryInputNeverTraps() {
        // A deterministic generator over characters that matter to the parser; a trap fails the run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let alphabet = Array("0123456789 ,:-GMTSunNovFebWedsday\t-\u{0}é😀")
        var seen = 0
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 59)
            var text = ""
            for step in 0..<length {
                let index = Int((state >> UInt64(step % 50)) % UInt64(alphabet.count))
                text.append(alphabet[index])
            }
            if RetryAfter.parse(text, responseDate: text, now: Self.now) != nil { seen += 1 }
        }
        // Mutations of a valid date: every single-character change, at every position.
        let valid = Array("Sun, 06 Nov 1994 08:49:37 GMT")
        for position in valid.indices {
            for replacement in Array(" 9:-,xGZ") {
                var mutated = valid
                mutated[position] = replacement
                _ = RetryAfter.parse(String(mutated), responseDate: nil, now: UnixInstant(nanoseconds: .min))
                _ = RetryAfter.parse(String(mutated), responseDate: nil, now: UnixInstant(nanoseconds: .max))
            }
        }
        #expect(seen > 0)  // some short digit strings are valid delays
    }
}
