/// A complete HTTP response the test server sends: status, headers and body.
///
/// The server adds `Content-Length` (unless the headers already frame the body) and
/// `Connection: close` when the request asked for it; everything else is sent as given, so a
/// test can send headers a client must cope with (`Retry-After`, `Location`, odd content types).
///
/// ```swift
/// let response = Response(status: 429, headers: [("Retry-After", "2")])
/// ```
public struct Response: Sendable {
    /// The status code, such as 204 or 503.
    public var status: Int
    /// Header fields in the order they are sent; a name may repeat.
    public var headers: [(name: String, value: String)]
    /// The body bytes, sent as they are.
    public var body: [UInt8]

    /// Creates a response with a byte body.
    ///
    /// - Parameters:
    ///   - status: The status code.
    ///   - headers: Header fields in the order they are sent.
    ///   - body: The body bytes.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Creates a response with a UTF-8 text body.
    ///
    /// - Parameters:
    ///   - status: The status code.
    ///   - headers: Header fields in the order they are sent.
    ///   - body: The body text, sent as UTF-8.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: String = "") {
        self.init(status: status, headers: headers, body: Array(body.utf8))
    }
}
