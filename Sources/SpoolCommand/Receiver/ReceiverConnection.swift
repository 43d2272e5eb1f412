import NIOCore
import NIOHTTP1

/// One connection to the ``Receiver``: reads each request's body (inflating gzip once it has
/// arrived), has it counted, and answers.
final class ReceiverConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The most a body may hold, as sent and once inflated: a bound against decompression bombs.
    static let maximumBodyBytes = 64 << 20

    private let books: Receiver.Books
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Whether the request's body is gzip.
    private var gzip = false
    /// Set once the body is over the bound (compressed, or once inflated) or is not valid gzip.
    private var unreadable = false

    init(books: Receiver.Books) {
        self.books = books
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.removeAll(keepingCapacity: true)
            unreadable = false
            gzip = requestHead.headers["Content-Encoding"].contains { $0.lowercased().contains("gzip") }
        case .body(let buffer):
            buffer.withUnsafeReadableBytes { append($0) }
        case .end:
            guard let head else { return }
            self.head = nil
            if head.method == .GET && head.uri.hasPrefix("/count") {
                respond(context: context, head: head, status: .ok, body: books.countLine)
            } else if head.method == .GET && head.uri.hasPrefix("/reset") {
                books.reset()
                respond(context: context, head: head, status: .ok, body: "0 0 0\n")
            } else if books.failing.load(ordering: .acquiring) {
                books.refuse()
                respond(context: context, head: head, status: .serviceUnavailable, body: nil)
            } else {
                // A corrupt body, one cut short and one too large all count as invalid.
                if gzip && !unreadable {
                    switch Inflater.inflate(body, limit: Self.maximumBodyBytes) {
                    case .success(let inflated): body = inflated
                    case .failure: unreadable = true
                    }
                }
                let readWhole = !unreadable
                var received = readWhole ? ReceivedBody.parse(body, loki: head.uri.contains("/loki/api/v1/push"), ids: books.ids)
                    : ReceivedBody(valid: false)
                if received.entries == 0 { received.valid = false }
                books.record(received)
                respond(context: context, head: head, status: received.valid ? .noContent : .badRequest, body: nil)
            }
            gzip = false
        }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) {
        guard !unreadable else { return }
        if body.count + bytes.count > Self.maximumBodyBytes { unreadable = true } else { body.append(contentsOf: bytes) }
    }

    /// Answers `head`'s request, and closes the connection when the request asked for that
    /// (`Connection: close`, or HTTP/1.0 without keep-alive).
    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, body: String?) {
        var headers = HTTPHeaders()
        // A 204 carries no Content-Length (RFC 9110 §8.6).
        if let body { headers.add(name: "Content-Length", value: "\(body.utf8.count)") } else if status != .noContent { headers.add(name: "Content-Length", value: "0") }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if let body {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let ended = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            ended.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
