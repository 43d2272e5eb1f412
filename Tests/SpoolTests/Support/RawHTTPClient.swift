import Foundation
import NIOCore
import NIOPosix

/// A deliberately dumb HTTP client for testing the test server: it sends bytes exactly as given
/// and reports every byte that came back and how the connection ended (EOF, reset, timeout,
/// or its own read limit), which no real client would show.
enum RawHTTPClient {
    /// How the exchange ended.
    enum Ending: Equatable, Sendable {
        /// The server closed the connection normally (FIN).
        case closed
        /// The connection failed with this errno, such as `ECONNRESET`.
        case failed(errno: Int32)
        /// The connection failed with an error that carries no errno.
        case failedOther(String)
        /// Nothing ended it within the timeout; the client closed it.
        case timedOut
        /// The client stopped reading at its byte limit and closed.
        case limitReached
    }

    struct Reply: Sendable {
        var bytes: [UInt8]
        var reads: Int
        var ending: Ending
        var text: String { String(decoding: bytes, as: UTF8.self) }
        var response: ParsedResponse? { ParsedResponse(bytes) }
    }

    /// A request with `Connection: close`, so the reply ends with the server's close.
    static func request(
        _ method: String = "POST", _ path: String = "/push", headers: [(String, String)] = [],
        body: [UInt8] = [], keepAlive: Bool = false
    ) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// Connects to 127.0.0.1:`port`, sends `bytes` and collects the reply.
    ///
    /// - Throws: The connect error (an `IOError` with `ECONNREFUSED` when nothing listens).
    static func exchange(
        port: Int, _ bytes: [UInt8], timeout: TimeAmount = .seconds(3), limit: Int = 1 << 20
    ) async throws -> Reply {
        let group = MultiThreadedEventLoopGroup.singleton
        let promise = group.next().makePromise(of: Reply.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(limit: limit, promise: promise))
                }
            }
            .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port))
            .get()
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            channel.pipeline.fireUserInboundEventTriggered(Collector.TimedOut())
        }
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
        let reply = try await promise.futureResult.get()
        deadline.cancel()
        return reply
    }

    /// Whether connecting to 127.0.0.1:`port` is refused, and with which errno.
    static func connectErrno(port: Int) async -> Int32? {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)).get()
            try? await channel.close()
            return nil
        } catch let error as IOError {
            return error.errnoCode
        } catch {
            return -1
        }
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        struct TimedOut {}

        private let limit: Int
        private let promise: EventLoopPromise<Reply>
        private var bytes: [UInt8] = []
        private var reads = 0
        private var ending: Ending?

        init(limit: Int, promise: EventLoopPromise<Reply>) {
            self.limit = limit
            self.promise = promise
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            reads += 1
            bytes.append(contentsOf: unwrapInboundIn(data).readableBytesView)
            if bytes.count >= limit { end(.limitReached, context) }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is TimedOut { end(.timedOut, context) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            if let error = error as? IOError {
                end(.failed(errno: error.errnoCode), context)
            } else {
                end(.failedOther("\(error)"), context)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed(Reply(bytes: bytes, reads: reads, ending: ending ?? .closed))
        }

        private func end(_ reason: Ending, _ context: ChannelHandlerContext) {
            if ending == nil { ending = reason }
            context.close(promise: nil)
        }
    }
}

/// A response parsed from raw bytes: status, headers and a body framed by Content-Length or
/// chunked encoding; `isComplete` says whether the framing was satisfied.
struct ParsedResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var isComplete: Bool
    /// How many bytes the first response used, so pipelined responses can be split.
    var consumed: Int

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    init?(_ bytes: [UInt8]) {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.dropLast(3).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        self.status = status
        headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var rest = Array(bytes[(end + 4)...])
        let headerBytes = end + 4
        if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
            body = Array(rest.prefix(length))
            isComplete = rest.count >= length
            consumed = headerBytes + body.count
        } else if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
            body = []
            isComplete = false
            consumed = headerBytes
            while let lineEnd = rest.indices.dropLast().first(where: { rest[$0] == 13 && rest[$0 + 1] == 10 }),
                  let size = Int(String(decoding: rest[..<lineEnd], as: UTF8.self), radix: 16) {
                guard rest.count >= lineEnd + 2 + size + 2 else { break }
                body += rest[(lineEnd + 2)..<(lineEnd + 2 + size)]
                rest.removeFirst(lineEnd + 2 + size + 2)
                consumed += lineEnd + 2 + size + 2
                if size == 0 { isComplete = true; break }
            }
        } else {
            body = rest
            isComplete = status == 204 || status == 304 || (100..<200).contains(status)
            consumed = headerBytes + (isComplete ? 0 : rest.count)
        }
    }
}
