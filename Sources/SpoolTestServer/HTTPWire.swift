import NIOCore
import NIOHTTP1

/// HTTP/1.1 responses written as bytes by hand, so a fault can send exactly what it wants
/// (a head alone, part of a body, one byte at a time) without an encoder correcting it.
enum HTTPWire {
    /// The status line and header block, ending with the blank line.
    static func head(status: Int, headers: [(name: String, value: String)]) -> [UInt8] {
        let reason = HTTPResponseStatus(statusCode: status).reasonPhrase
        var text = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// The headers to send with `response`: its own, plus `Content-Length` when nothing else
    /// frames the body, plus `Connection: close` when the connection ends after it.
    static func headers(for response: Response, keepAlive: Bool) -> [(name: String, value: String)] {
        var headers = response.headers
        let names = Set(headers.map { $0.name.lowercased() })
        // RFC 9110 8.6: no Content-Length on 1xx and 204; 304 describes another response.
        let bodyless = (100..<200).contains(response.status) || response.status == 204 || response.status == 304
        if !bodyless && !names.contains("content-length") && !names.contains("transfer-encoding") {
            headers.append(("Content-Length", "\(response.body.count)"))
        }
        if !keepAlive && !names.contains("connection") {
            headers.append(("Connection", "close"))
        }
        return headers
    }

    /// The complete response: head and body.
    static func encode(_ response: Response, keepAlive: Bool) -> [UInt8] {
        head(status: response.status, headers: headers(for: response, keepAlive: keepAlive)) + response.body
    }

    /// One chunk of a chunked body (RFC 9112 7.1).
    static func chunk(_ payload: [UInt8]) -> [UInt8] {
        Array(String(payload.count, radix: 16).utf8) + [13, 10] + payload + [13, 10]
    }
}
