// MARK: - Answers

extension Behaviour {
    /// Answers every request with `code`, the given headers and body.
    ///
    /// - Parameters:
    ///   - code: The status code.
    ///   - headers: Header fields to send.
    ///   - body: The body text.
    public static func status(_ code: Int, headers: [(name: String, value: String)] = [], body: String = "") -> Behaviour {
        .always(.respond(Response(status: code, headers: headers, body: body)))
    }

    /// Answers every request with a success and an empty body: 204 unless told otherwise.
    ///
    /// - Parameter code: The success status, 204 by default (Loki's answer to a push).
    public static func ok(_ code: Int = 204) -> Behaviour {
        .status(code)
    }

    /// Answers the next `count` requests with `status` (503 by default), then behaves as `next`:
    /// an outage of a known length. For an outage until the test says so, set
    /// ``TestHTTPServer/behaviour`` to `.status(503)` and back.
    ///
    /// - Parameters:
    ///   - count: How many requests fail.
    ///   - status: The failure status.
    ///   - next: The behaviour after the outage.
    public static func failFor(_ count: Int, status: Int = 503, then next: Behaviour = .ok()) -> Behaviour {
        .first(count, .status(status), then: next)
    }

    /// Answers 429 Too Many Requests with a `Retry-After` header.
    ///
    /// - Parameter retryAfter: The header's value as sent: seconds (`"2"`) or an HTTP date.
    public static func tooManyRequests(retryAfter: String) -> Behaviour {
        .status(429, headers: [("Retry-After", retryAfter)], body: "rate limited")
    }

    /// Answers with `status` when the decoded body contains `marker`, otherwise as `otherwise`:
    /// a backend rejecting poison entries, for testing that a client isolates them.
    ///
    /// - Parameters:
    ///   - marker: Text whose presence in the (gunzipped) body makes the request fail.
    ///   - status: The rejection status, 400 by default.
    ///   - otherwise: The behaviour for bodies without the marker.
    public static func rejectEntries(containing marker: String, status: Int = 400, otherwise: Behaviour = .ok()) -> Behaviour {
        let needle = Array(marker.utf8)
        return .when(
            { $0.body.containsSubsequence(needle) },
            .status(status, body: "entry rejected: contains \(marker)"),
            otherwise: otherwise)
    }

    /// Which size of a body ``Behaviour/rejectAbove(bytes:status:measuring:otherwise:)`` compares.
    public enum BodySize: Sendable {
        /// The bytes on the wire, compressed if the client compressed them.
        case wire
        /// The bytes after `Content-Encoding` is undone.
        case decoded
    }

    /// Answers with `status` when the body is larger than `bytes`, otherwise as `otherwise`:
    /// a backend's request size limit, for testing that a client splits batches.
    ///
    /// - Parameters:
    ///   - bytes: The largest body accepted.
    ///   - status: The rejection status, 413 by default.
    ///   - measuring: Whether the wire size or the decoded size is compared.
    ///   - otherwise: The behaviour for bodies within the limit.
    public static func rejectAbove(
        bytes: Int, status: Int = 413, measuring: BodySize = .wire, otherwise: Behaviour = .ok()
    ) -> Behaviour {
        .when(
            { (measuring == .wire ? $0.rawBody.count : $0.body.count) > bytes },
            .status(status, body: "request body larger than \(bytes) bytes"),
            otherwise: otherwise)
    }
}

// MARK: - Misbehaving receivers

extension Behaviour {
    /// Reads each request and never answers, until the client gives up or the server stops:
    /// for testing request timeouts.
    public static let hang = Behaviour.always(.hang)

    /// Closes each connection without answering once the request has arrived.
    public static let closeConnection = Behaviour.always(.closeConnection)

    /// Sends a head announcing `bodyBytes` bytes, the first `sentBytes` of them, then resets the
    /// connection.
    ///
    /// - Parameters:
    ///   - status: The status in the head.
    ///   - bodyBytes: The body length the head announces.
    ///   - sentBytes: How many body bytes are sent before the reset.
    public static func resetMidResponse(status: Int = 200, bodyBytes: Int = 1024, sentBytes: Int = 16) -> Behaviour {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: bodyBytes)
        return .always(.resetMidResponse(Response(status: status, body: body), sentBytes: min(sentBytes, bodyBytes)))
    }

    /// Sends the whole response, head included, a few bytes at a time with a pause between
    /// writes: for testing that a client's timeout covers the whole response, not each read.
    ///
    /// - Parameters:
    ///   - response: The response to dribble; 200 with a short JSON body by default.
    ///   - bytesPerWrite: How many bytes each write carries.
    ///   - interval: The pause between writes; keep it small, the test waits for all of them.
    public static func dribble(
        _ response: Response = Response(status: 200, headers: [("Content-Type", "application/json")], body: "{}"),
        bytesPerWrite: Int = 1,
        interval: Duration = .milliseconds(1)
    ) -> Behaviour {
        .always(.dribble(response, bytesPerWrite: max(1, bytesPerWrite), interval: interval))
    }

    /// Sends a head and then a body that never ends: for testing that a client bounds its reads.
    ///
    /// - Parameters:
    ///   - status: The status in the head.
    ///   - chunkSize: Bytes per chunk of the chunked body.
    public static func endlessBody(status: Int = 200, chunkSize: Int = 16 << 10) -> Behaviour {
        .always(.endlessBody(status: status, headers: [("Content-Type", "application/json")], chunkSize: max(1, chunkSize)))
    }

    /// Answers with a success status and a body that does not parse: JSON cut off mid-object
    /// under a JSON content type, correctly framed.
    ///
    /// - Parameters:
    ///   - status: The success status, 200 by default.
    ///   - contentType: The content type claimed.
    public static func malformedBody(status: Int = 200, contentType: String = "application/json") -> Behaviour {
        .status(status, headers: [("Content-Type", contentType)], body: #"{"partialSuccess": {"rejected"#)
    }

    /// Redirects every request to itself (`Location` is the request's own URL), forever.
    ///
    /// - Parameter status: The redirect status, 302 by default; 307 and 308 keep the method.
    public static func redirectLoop(status: Int = 302) -> Behaviour {
        Behaviour { request in
            let location = request.header("Host").map { "http://\($0)\(request.uri)" } ?? request.uri
            return .respond(Response(status: status, headers: [("Location", location)], body: ""))
        }
    }

    /// Waits `delay` before behaving as `behaviour`, keeping the request in flight meanwhile.
    ///
    /// - Parameters:
    ///   - delay: The wait, on the connection's event loop.
    ///   - behaviour: What to do afterwards.
    public static func delayed(by delay: Duration, _ behaviour: Behaviour) -> Behaviour {
        Behaviour { .delayed(delay, behaviour.decide($0)) }
    }

    /// Holds each request until `gate` is open, then behaves as `behaviour`: for counting how
    /// many requests a client has in flight at once.
    ///
    /// - Parameters:
    ///   - gate: The gate a test opens.
    ///   - behaviour: What to do once it is open.
    public static func held(by gate: Gate, _ behaviour: Behaviour = .ok()) -> Behaviour {
        Behaviour { .held(gate, behaviour.decide($0)) }
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= count else { return false }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
