import CZlib
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The far end of the forwarding benchmarks: an HTTP/1.1 server on 127.0.0.1 that counts the
/// entries it receives and answers 204. One implementation, used in process by
/// `spool bench forward` / `drain` and as a process of its own by `spool bench receiver`
/// (for `tools/compare-syslog-ng`).
///
/// Counting is a single pass over the body with no allocation per entry: a Loki push
/// (`/loki/api/v1/push`) is scanned for the arrays that open at the depth of `values`
/// entries, anything else counts non-empty lines (NDJSON, syslog-ng's batches). gzip bodies are
/// inflated through a fixed buffer on the way. `GET /count` answers the running total.
final class CountingReceiver: Sendable {
    /// Entries counted so far.
    var count: Int { counted.load(ordering: .acquiring) }
    /// Requests answered so far (`/count` excluded).
    var requests: Int { requestCount.load(ordering: .relaxed) }
    /// Thread CPU time spent inflating and counting bodies, in seconds: the receiver's own cost
    /// inside the process's getrusage total.
    var countingCPUSeconds: Double { Double(cpuNanoseconds.load(ordering: .relaxed)) / 1e9 }
    /// The port it listens on.
    let port: Int

    private let counted = Atomic<Int>(0)
    private let requestCount = Atomic<Int>(0)
    private let cpuNanoseconds = Atomic<Int>(0)
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Starts listening on 127.0.0.1:`port` (0: any free port) with one event-loop thread.
    init(port: Int = 0) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let box = ReceiverBox()
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // Accepted before `init` finished: refused, the client retries.
                        guard let receiver = box.receiver else { throw ChannelError.ioOnClosedChannel }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(CountingHandler(receiver: receiver))
                    }
                }
                .bind(host: "127.0.0.1", port: port)
                .wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = channel.localAddress?.port ?? port
        box.receiver = self
    }

    /// Stops listening and ends the event-loop thread.
    func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Waits (polling, bounded by `timeout`) until `target` entries were counted.
    /// - Returns: whether the count got there in time.
    func wait(forCount target: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while count < target {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return true
    }

    fileprivate func record(entries: Int, cpuNanoseconds spent: Int) {
        counted.add(entries, ordering: .releasing)
        requestCount.add(1, ordering: .relaxed)
        cpuNanoseconds.add(spent, ordering: .relaxed)
    }
}

/// Lets the channel initializer reach the receiver before `init` has finished: filled right
/// after `bind` returns; a connection accepted in between finds it empty and is refused.
private final class ReceiverBox: Sendable {
    private let value = Mutex<CountingReceiver?>(nil)
    var receiver: CountingReceiver? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// One connection: counts each request's body and answers it.
private final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let receiver: CountingReceiver
    private var counter = EntryCounter(loki: false)
    private var inflater: Inflater?
    private var isCountRequest = false
    private var started = 0

    init(receiver: CountingReceiver) {
        self.receiver = receiver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            started = threadCPUNanoseconds()
            isCountRequest = head.method == .GET && head.uri.hasPrefix("/count")
            counter = EntryCounter(loki: head.uri.contains("/loki/api/v1/push"))
            inflater = head.headers["Content-Encoding"].contains { $0.lowercased().contains("gzip") } ? Inflater() : nil
        case .body(let buffer):
            buffer.withUnsafeReadableBytes { bytes in
                if let inflater {
                    inflater.inflate(bytes) { counter.scan($0) }
                } else {
                    counter.scan(bytes)
                }
            }
        case .end:
            inflater = nil
            if isCountRequest {
                respond(context: context, status: .ok, body: "\(receiver.count)\n")
            } else {
                receiver.record(entries: counter.finish(), cpuNanoseconds: threadCPUNanoseconds() - started)
                respond(context: context, status: .noContent, body: nil)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String?) {
        var headers = HTTPHeaders()
        // A 204 carries no Content-Length (RFC 9110 §8.6).
        if let body { headers.add(name: "Content-Length", value: "\(body.utf8.count)") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let body {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Counts entries in a body given in pieces.
struct EntryCounter {
    /// Loki JSON: `{"streams":[{"stream":{…},"values":[[ts,line,{…}],…]}]}`; an entry is an
    /// array opened at depth 4 (strings and escapes tracked, so brackets in lines do not count).
    let loki: Bool
    private var count = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// Lines: bytes seen since the last newline.
    private var pendingLine = false

    init(loki: Bool) { self.loki = loki }

    mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        if loki {
            for byte in bytes {
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["):
                    if depth == 4 { count += 1 }
                    depth += 1
                case UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
        } else {
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if pendingLine { count += 1 }
                    pendingLine = false
                } else {
                    pendingLine = true
                }
            }
        }
    }

    /// The body's entries (a last line without a newline counts).
    mutating func finish() -> Int {
        if pendingLine { count += 1 }
        pendingLine = false
        return count
    }
}

/// The calling thread's CPU time in nanoseconds.
func threadCPUNanoseconds() -> Int {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return spec.tv_sec * 1_000_000_000 + spec.tv_nsec
}
