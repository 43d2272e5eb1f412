/// One request the test server received, as it arrived and with its body decoded.
///
/// `rawBody` is the body as sent (after chunked framing is removed); `body` is the same bytes
/// gunzipped when the request said `Content-Encoding: gzip`, so a test can inspect entries and
/// still check that the client compressed them.
public struct RecordedRequest: Sendable {
    /// The request method, such as `POST`.
    public let method: String
    /// The request target as sent, path and query: `/loki/api/v1/push?x=1`.
    public let uri: String
    /// Header fields in the order received; a name may repeat.
    public let headers: [(name: String, value: String)]
    /// The body as it came over the wire (still gzip-compressed if it was).
    public let rawBody: [UInt8]
    /// The body decoded: gunzipped for `Content-Encoding: gzip`, otherwise `rawBody`.
    public let body: [UInt8]
    /// Why `Content-Encoding` could not be decoded (then `body` is `rawBody`), or `nil`.
    public let bodyDecodingError: String?
    /// Which connection carried the request, counting from 1 in accept order.
    public let connectionNumber: Int
    /// The request's position among all requests the server received, counting from 1.
    public let sequenceNumber: Int

    /// The path without the query: `/loki/api/v1/push`.
    public var path: String {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
    }

    /// The decoded body as UTF-8 text (invalid sequences repaired).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The value of the first header field named `name` (compared case-insensitively), or `nil`.
    ///
    /// - Parameter name: The field name, in any case.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// Whether the body arrived gzip-compressed (`Content-Encoding: gzip`).
    public var isGzipped: Bool {
        header("Content-Encoding")?.lowercased().contains("gzip") ?? false
    }
}
