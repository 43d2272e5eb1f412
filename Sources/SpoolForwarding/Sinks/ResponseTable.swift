import Spool

/// The one place that turns an HTTP status into a ``Verdict``: the general rule of
/// protocols.md, and each protocol's exceptions to it written as data.
///
/// | Status | General rule |
/// |---|---|
/// | 2xx | delivered |
/// | 408, 429, 5xx | retry (honouring `Retry-After` on 429 and 503) |
/// | 413 | too large: split |
/// | 400, 422, any other 4xx | rejected: isolate and dead-letter |
/// | 401, 403, 404 | misconfigured: pause, keep everything |
/// | 1xx, 3xx, anything else | misconfigured: a redirect we did not follow means a wrong URL |
///
/// ```swift
/// func classify(_ response: SinkResponse) -> Verdict {
///     Verdict.standard(response, table: .otlp)
/// }
/// ```
package struct ResponseTable: Sendable, Hashable {
    /// What a status means, before the reason and the wait are attached.
    package enum Outcome: Sendable, Hashable {
        case delivered, retry, tooLarge, rejected, misconfigured
    }

    /// Statuses whose meaning differs from the ranges below.
    package var statuses: [Int: Outcome]
    /// Any other 2xx.
    package var success: Outcome
    /// Any other 4xx.
    package var clientError: Outcome
    /// Any other 5xx.
    package var serverError: Outcome
    /// 1xx, 3xx and anything outside 100–599.
    package var other: Outcome
    /// Statuses on which a `Retry-After` header replaces the computed backoff; only ever
    /// applied when the outcome is ``Outcome/retry``, so it never makes a permanent error
    /// retryable.
    package var retryAfterStatuses: Set<Int>

    /// Creates a table; the defaults are the general rule.
    package init(
        statuses: [Int: Outcome] = ResponseTable.generalStatuses,
        success: Outcome = .delivered,
        clientError: Outcome = .rejected,
        serverError: Outcome = .retry,
        other: Outcome = .misconfigured,
        retryAfterStatuses: Set<Int> = [429, 503]
    ) {
        self.statuses = statuses
        self.success = success
        self.clientError = clientError
        self.serverError = serverError
        self.other = other
        self.retryAfterStatuses = retryAfterStatuses
    }

    /// The general rule's named statuses.
    package static let generalStatuses: [Int: Outcome] = [
        400: .rejected, 401: .misconfigured, 403: .misconfigured, 404: .misconfigured,
        408: .retry, 413: .tooLarge, 422: .rejected, 429: .retry,
    ]

    /// The general rule (Loki, HTTP/NDJSON, PagerDuty).
    package static let general = ResponseTable()

    /// OTLP/HTTP: only 429, 502, 503 and 504 are retried; every other 4xx and 5xx, 500 and 408
    /// included, is permanent, as the OTLP specification requires.
    package static let otlp = ResponseTable(
        statuses: [
            400: .rejected, 401: .misconfigured, 403: .misconfigured, 404: .misconfigured,
            413: .tooLarge, 429: .retry, 502: .retry, 503: .retry, 504: .retry,
        ],
        serverError: .rejected
    )

    /// The outcome of a status by this table.
    package func outcome(of status: Int) -> Outcome {
        if let outcome = statuses[status] { return outcome }
        switch status {
        case 200...299: return success
        case 400...499: return clientError
        case 500...599: return serverError
        default: return other
        }
    }
}

extension Verdict {
    /// A response classified by `table`, with the status and a body excerpt as the reason.
    ///
    /// - Parameters:
    ///   - response: What came back.
    ///   - table: The protocol's table; ``ResponseTable/general`` unless the protocol differs.
    ///   - now: When the response was received, for a date-form `Retry-After` without a `Date`
    ///     header; ``SinkResponse/receivedAt`` when nil.
    package static func standard(_ response: SinkResponse, table: ResponseTable = .general, now: UnixInstant? = nil) -> Verdict {
        let reason = reason(response)
        switch table.outcome(of: response.status) {
        case .delivered: return .delivered
        case .tooLarge: return .tooLarge(reason: reason)
        case .rejected: return .rejected(reason: reason)
        case .misconfigured: return .misconfigured(reason: reason)
        case .retry:
            var wait: Duration?
            if table.retryAfterStatuses.contains(response.status), let value = response.header("Retry-After") {
                wait = RetryAfter.parse(value, responseDate: response.header("Date"), reference: now ?? response.receivedAt)
            }
            return .retry(after: wait, reason: reason)
        }
    }

    /// `HTTP 503: <body excerpt>`, what a dead letter and a pause report keep. The excerpt is
    /// bounded and on one line.
    static func reason(_ response: SinkResponse, excerptBytes: Int = 512) -> String {
        var reason = "HTTP \(response.status)"
        if response.status >= 300 || response.status < 200, let location = response.header("Location") {
            reason += " (Location: \(location.prefix(256)))"
        }
        let excerpt = response.excerpt(limit: excerptBytes)
            .split(whereSeparator: \.isNewline).joined(separator: " ")
            .trimmingBlanks()
        if !excerpt.isEmpty { reason += ": " + excerpt }
        return reason
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmingBlanks() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isBlank($0) }), let end = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[start...end])
    }
}
