import NIOCore
import NIOHTTP1

/// One accepted connection: collects requests, records them with the server, and carries out
/// the behaviour's ``Action`` for each, one response at a time, in arrival order.
///
/// Runs on its channel's event loop only; every callback hops back there through
/// `assumeIsolated()` or `NIOLoopBound`, so its mutable state needs no lock.
final class ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let server: TestHTTPServer
    private let connectionNumber: Int

    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Complete requests waiting for the response before them to finish.
    private var pending: [(request: RecordedRequest, keepAlive: Bool)] = []
    /// The response being sent, if any; callbacks of an older response see a different number.
    private var currentResponse: Int?
    private var responsesStarted = 0
    /// Requests whose head arrived and whose response has not finished: the server's in-flight count.
    private var unfinished = 0
    private var isActive = true

    init(server: TestHTTPServer, connectionNumber: Int) {
        self.server = server
        self.connectionNumber = connectionNumber
    }

    // MARK: - Reading requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            unfinished += 1
            server.requestStarted()
            // libcurl (syslog-ng's http() among others) waits a second for this before a large body.
            if requestHead.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
            }
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let requestHead = head else { return }
            head = nil
            let request = server.record(requestHead, body: body, connectionNumber: connectionNumber)
            body = []
            pending.append((request, requestHead.isKeepAlive))
            respondToNext(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        pending = []
        currentResponse = nil
        server.requestsAbandoned(unfinished)
        unfinished = 0
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request the decoder cannot parse, or a reset by the client: either way this
        // connection is done; the client sees it closed.
        context.close(promise: nil)
    }

    // MARK: - Responding

    private func respondToNext(context: ChannelHandlerContext) {
        guard isActive, currentResponse == nil, !pending.isEmpty else { return }
        let (request, keepAlive) = pending.removeFirst()
        responsesStarted += 1
        currentResponse = responsesStarted
        perform(server.behaviour.decide(request), keepAlive: keepAlive, response: responsesStarted, context: context)
    }

    private func finish(response: Int, keepAlive: Bool, context: ChannelHandlerContext) {
        guard isActive, currentResponse == response else { return }
        currentResponse = nil
        unfinished -= 1
        server.requestFinished()
        if keepAlive {
            respondToNext(context: context)
        } else {
            context.close(promise: nil)
        }
    }

    private func perform(_ action: Action, keepAlive: Bool, response: Int, context: ChannelHandlerContext) {
        guard isActive, currentResponse == response else { return }
        switch action {
        case .respond(let reply):
            write(HTTPWire.encode(reply, keepAlive: keepAlive), context: context).whenComplete { _ in
                self.finish(response: response, keepAlive: keepAlive, context: context)
            }
        case .closeConnection:
            context.close(promise: nil)
        case .hang:
            break  // Stays the current response until the connection closes.
        case .resetMidResponse(let reply, let sentBytes):
            let head = HTTPWire.head(status: reply.status, headers: HTTPWire.headers(for: reply, keepAlive: keepAlive))
            write(head + reply.body.prefix(sentBytes), context: context).whenComplete { _ in
                self.reset(context: context)
            }
        case .dribble(let reply, let bytesPerWrite, let interval):
            dribble(HTTPWire.encode(reply, keepAlive: keepAlive)[...], bytesPerWrite: bytesPerWrite,
                    interval: TimeAmount(interval), keepAlive: keepAlive, response: response, context: context)
        case .endlessBody(let status, let headers, let chunkSize):
            let head = HTTPWire.head(status: status, headers: headers + [("Transfer-Encoding", "chunked")])
            let chunk = HTTPWire.chunk([UInt8](repeating: UInt8(ascii: "x"), count: chunkSize))
            write(head, context: context).whenComplete { _ in
                self.stream(chunk, sent: 0, response: response, context: context)
            }
        case .delayed(let delay, let next):
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
                self.perform(next, keepAlive: keepAlive, response: response, context: context)
            }
        case .held(let gate, let next):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            gate.whenOpen(on: context.eventLoop) {
                let (handler, context) = bound.value
                handler.perform(next, keepAlive: keepAlive, response: response, context: context)
            }
        }
    }

    private func write(_ bytes: some Collection<UInt8>, context: ChannelHandlerContext) -> EventLoopFuture<Void>.Isolated {
        let buffer = context.channel.allocator.buffer(bytes: bytes)
        return context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated()
    }

    // MARK: - Faults that take several steps

    /// Closes with `SO_LINGER` 0, which makes the kernel send RST instead of FIN.
    private func reset(context: ChannelHandlerContext) {
        guard isActive else { return }
        guard let provider = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        provider.setSoLinger(NIOLinger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    private func dribble(
        _ remaining: ArraySlice<UInt8>, bytesPerWrite: Int, interval: TimeAmount,
        keepAlive: Bool, response: Int, context: ChannelHandlerContext
    ) {
        guard isActive, currentResponse == response else { return }
        guard !remaining.isEmpty else {
            finish(response: response, keepAlive: keepAlive, context: context)
            return
        }
        write(remaining.prefix(bytesPerWrite), context: context).whenSuccess {
            context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
                self.dribble(remaining.dropFirst(bytesPerWrite), bytesPerWrite: bytesPerWrite, interval: interval,
                             keepAlive: keepAlive, response: response, context: context)
            }
        }
    }

    /// Writes the next chunk once the previous one has reached the socket, so a client that stops
    /// reading stops the stream (bounded memory) and one that closes ends it.
    private func stream(_ chunk: [UInt8], sent: Int, response: Int, context: ChannelHandlerContext) {
        guard isActive, currentResponse == response else { return }
        guard sent < Action.endlessBodySafetyCap else {
            context.close(promise: nil)  // Without the last chunk: the response never completes.
            return
        }
        write(chunk, context: context).whenSuccess {
            // A hop through the loop keeps the stack flat when writes complete synchronously.
            context.eventLoop.assumeIsolated().execute {
                self.stream(chunk, sent: sent + chunk.count, response: response, context: context)
            }
        }
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}
