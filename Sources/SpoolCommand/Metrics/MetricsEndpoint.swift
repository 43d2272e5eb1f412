import NIOCore
import NIOHTTP1
import NIOPosix
import Spool
import SpoolForwarding
import Synchronization

/// The HTTP/1.1 server of `spool forward --metrics-address`: `GET /metrics` (Prometheus text
/// exposition) and `GET /health` (JSON, 200 or 503); `HEAD` of either; any other path 404, any
/// other method 405. One event-loop thread of its own, so a scrape never waits for the
/// forwarder's tasks, nor they for it.
final class MetricsEndpoint: Sendable {
    /// The address it listens on (with the port the system chose, for port 0).
    let boundAddress: MetricsAddress
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let stopped = Atomic<Bool>(false)

    /// Listens on `address`.
    /// - Throws: ``SpoolError`` (`io`) naming the address when it cannot be bound (in use, not
    ///   an address of this machine, a name that does not resolve).
    init(address: MetricsAddress, exporter: MetricsExporter) throws(SpoolError) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHandler(exporter: exporter))
                    }
                }
                .bind(host: address.host, port: address.port)
                .wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw SpoolError(.io, "cannot serve metrics on \(address): \(error); choose another --metrics-address (port 0 lets the system choose)")
        }
        var bound = address
        if let port = channel.localAddress?.port { bound.port = port }
        boundAddress = bound
    }

    /// Stops listening and ends its thread (once; later calls do nothing).
    func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// One connection: answers each request once it has been read whole (a body is ignored).
private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let exporter: MetricsExporter
    private var head: HTTPRequestHead?

    init(exporter: MetricsExporter) {
        self.exporter = exporter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            break
        case .end:
            guard let request = head else { return }
            head = nil
            answer(request, context: context)
        }
    }

    private func answer(_ request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? request.uri
        let known = path == "/metrics" || path == "/health"
        guard known else {
            return respond(context, request, .notFound, "text/plain; charset=utf-8", Array("not found: this endpoint serves /metrics and /health\n".utf8))
        }
        guard request.method == .GET || request.method == .HEAD else {
            return respond(context, request, .methodNotAllowed, "text/plain; charset=utf-8", Array("method not allowed: use GET or HEAD\n".utf8),
                           extra: [("Allow", "GET, HEAD")])
        }
        if path == "/metrics" {
            respond(context, request, .ok, "text/plain; version=0.0.4; charset=utf-8", exporter.exposition())
        } else {
            let (healthy, body) = exporter.health()
            respond(context, request, healthy ? .ok : .serviceUnavailable, "application/json", body)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus,
                         _ type: String, _ body: [UInt8], extra: [(String, String)] = []) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")] + extra)
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !request.isKeepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
