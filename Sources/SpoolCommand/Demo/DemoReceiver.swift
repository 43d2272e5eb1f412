import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The demo's stand-in for Loki: an HTTP server on 127.0.0.1 that accepts
/// `POST /loki/api/v1/push` (JSON, gzip or not), counts every entry by the demo id in its
/// line, so a duplicate is seen as one, and answers 503 while ``failing`` is set.
///
/// Self-contained on purpose: the demo must run where no Loki (and no test server) exists.
final class DemoReceiver: Sendable {
    /// What arrived, as the demo reports it.
    struct Tally: Sendable {
        /// Push requests answered 204.
        var accepted = 0
        /// Push requests answered 503 during the outage.
        var refused = 0
        /// Entries in accepted requests, duplicates included.
        var received = 0
        /// How many times each demo id arrived.
        var counts: [Int: Int] = [:]
        /// Entries whose line carried no demo id (none expected).
        var unrecognised = 0

        /// Ids that arrived more than once, counted once per extra copy.
        var duplicates: Int { counts.values.reduce(0) { $0 + max(0, $1 - 1) } }
    }

    private let tally = Mutex(Tally())
    private let failingFlag = Atomic<Bool>(false)
    private let group: MultiThreadedEventLoopGroup
    private let channel: Mutex<(any Channel)?> = Mutex(nil)

    private init(group: MultiThreadedEventLoopGroup) {
        self.group = group
    }

    /// Listens on 127.0.0.1 on a free port.
    static func start() async throws -> DemoReceiver {
        let receiver = DemoReceiver(group: MultiThreadedEventLoopGroup(numberOfThreads: 1))
        let channel = try await ServerBootstrap(group: receiver.group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PushHandler(receiver: receiver))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        receiver.channel.withLock { $0 = channel }
        return receiver
    }

    /// The base URL the Loki sink is given.
    var url: String {
        let port = channel.withLock { $0?.localAddress?.port } ?? 0
        return "http://127.0.0.1:\(port)"
    }

    /// While true, every push is answered 503 Service Unavailable.
    var failing: Bool {
        get { failingFlag.load(ordering: .acquiring) }
        set { failingFlag.store(newValue, ordering: .releasing) }
    }

    /// A copy of what arrived so far.
    var current: Tally { tally.withLock { $0 } }

    /// Closes the listener and its connections.
    func stop() async {
        if let channel = channel.withLock({ $0 }) {
            try? await channel.close()
        }
        try? await group.shutdownGracefully()
    }

    // MARK: - Requests

    /// Answers one complete request: its status.
    fileprivate func handle(method: HTTPMethod, uri: String, gzip: Bool, body: [UInt8]) -> HTTPResponseStatus {
        guard method == .POST, uri.hasPrefix("/loki/api/v1/push") else { return .notFound }
        if failing {
            tally.withLock { $0.refused += 1 }
            return .serviceUnavailable
        }
        guard let bytes = gzip ? Inflater.inflate(body) : body else { return .badRequest }
        guard let ids = Self.demoIDs(in: bytes) else { return .badRequest }
        tally.withLock { tally in
            tally.accepted += 1
            for id in ids {
                tally.received += 1
                if let id { tally.counts[id, default: 0] += 1 } else { tally.unrecognised += 1 }
            }
        }
        return .noContent
    }

    /// The demo id of every entry of a Loki push body (`#<id>` in the line), nil for a body
    /// that is not a push request.
    static func demoIDs(in body: [UInt8]) -> [Int?]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let streams = object["streams"] as? [[String: Any]]
        else { return nil }
        var ids: [Int?] = []
        for stream in streams {
            for value in stream["values"] as? [[Any]] ?? [] {
                ids.append((value.count > 1 ? value[1] as? String : nil).flatMap(demoID(inLine:)))
            }
        }
        return ids
    }

    /// The number after the first `#` of a line.
    static func demoID(inLine line: String) -> Int? {
        guard let hash = line.firstIndex(of: "#") else { return nil }
        let digits = line[line.index(after: hash)...].prefix { $0.isASCII && $0.isNumber }
        return Int(digits)
    }
}

/// One connection's requests, collected on its event loop.
private final class PushHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let receiver: DemoReceiver
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(receiver: DemoReceiver) {
        self.receiver = receiver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let gzip = head.headers["Content-Encoding"].contains { $0.lowercased() == "gzip" }
            let status = receiver.handle(method: head.method, uri: head.uri, gzip: gzip, body: body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Length", value: "0")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
            body = []
        }
    }
}
