import CZlib
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Spool
import Synchronization

/// The far end of the forwarding benchmarks: an HTTP/1.1 server on 127.0.0.1 that parses every
/// body, counts its entries, checks their sequence numbers and answers 204 (400 for a body it
/// cannot parse). Run as a process of its own (`spool bench receiver`) by `spool bench forward`
/// / `drain` and `tools/compare-syslog-ng`, so its work is not the forwarder's.
///
/// gzip bodies are inflated; a Loki push (`/loki/api/v1/push`) is parsed whole and must be
/// `{"streams":[{"stream":{…},"values":[[ts,line(,metadata)],…]}]}`; any other body is lines,
/// each parsed as JSON when it starts with `{` (NDJSON, syslog-ng's `format-json`). Each entry's
/// sequence number (`seq=N` or `"seq":N` in its line, or a `seq` key in its metadata or context:
/// the corpus's lines carry one) is marked in a bitmap, so the receiver can say how many
/// distinct entries arrived. `GET /count` answers `count distinct invalid`; `GET /reset` sets
/// all three to zero (between the runs of `tools/compare-syslog-ng`).
final class CountingReceiver: Sendable {
    /// Entries counted so far (resends counted again).
    var count: Int { counted.load(ordering: .acquiring) }
    /// Distinct sequence numbers seen so far.
    var distinct: Int { sequences.withLock { $0.distinct } }
    /// Bodies that did not parse.
    var invalid: Int { invalidCount.load(ordering: .relaxed) }
    /// Requests answered so far (`/count` excluded).
    var requests: Int { requestCount.load(ordering: .relaxed) }
    /// The port it listens on.
    let port: Int

    private let counted = Atomic<Int>(0)
    private let invalidCount = Atomic<Int>(0)
    private let requestCount = Atomic<Int>(0)
    private let sequences = Mutex(SequenceSet())
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

    fileprivate func reset() {
        sequences.withLock { $0 = SequenceSet() }
        counted.store(0, ordering: .releasing)
        invalidCount.store(0, ordering: .relaxed)
    }

    fileprivate func record(_ body: ParsedBody) {
        if body.valid {
            sequences.withLock { set in for seq in body.sequences { set.insert(seq) } }
            counted.add(body.entries, ordering: .releasing)
        } else {
            invalidCount.add(1, ordering: .relaxed)
        }
        requestCount.add(1, ordering: .relaxed)
    }
}

/// Sequence numbers seen: a bitmap that grows.
struct SequenceSet {
    private var words: [UInt64] = []
    private(set) var distinct = 0

    mutating func insert(_ value: Int) {
        guard value >= 0, value < 1 << 32 else { return }
        let word = value >> 6, bit = UInt64(1) << UInt64(value & 63)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1 + words.count / 2)) }
        if words[word] & bit == 0 {
            words[word] |= bit
            distinct += 1
        }
    }
}

/// What a body held.
struct ParsedBody {
    var valid = true
    var entries = 0
    var sequences: [Int] = []

    /// Parses a Loki push, or lines (JSON when they start with `{`): every byte is checked
    /// against JSON's grammar (``JSONScanner``), without building values, so that the receiver
    /// costs little next to the forwarder it measures.
    static func parse(_ bytes: [UInt8], loki: Bool) -> ParsedBody {
        var result = ParsedBody()
        bytes.withUnsafeBufferPointer { buffer in
            if loki {
                var scanner = JSONScanner(bytes: buffer)
                guard scanner.lokiPush(result: &result) else { result.valid = false; return }
                return
            }
            var start = 0
            for index in 0...buffer.count where index == buffer.count || buffer[index] == UInt8(ascii: "\n") {
                defer { start = index + 1 }
                guard index > start else { continue }
                let line = UnsafeBufferPointer(rebasing: buffer[start..<index])
                result.entries += 1
                if line[0] == UInt8(ascii: "{") {
                    var scanner = JSONScanner(bytes: line)
                    guard scanner.document() else { result.valid = false; return }
                }
                if let seq = sequenceNumber(in: line) { result.sequences.append(seq) }
            }
        }
        return result
    }

    /// The first sequence number in raw text: `seq=N`, `"seq":N`, `"seq":"N"` or, inside a JSON
    /// string, `\"seq\":N`.
    static func sequenceNumber(in text: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = text.count
        var index = 0
        while index + 4 < count {
            defer { index += 1 }
            guard text[index] == UInt8(ascii: "s"), text[index + 1] == UInt8(ascii: "e"), text[index + 2] == UInt8(ascii: "q") else { continue }
            var digits = index + 3
            if text[digits] == UInt8(ascii: "=") {
                digits += 1
            } else {
                if text[digits] == UInt8(ascii: "\\") { digits += 1 }
                guard digits + 1 < count, text[digits] == UInt8(ascii: "\""), text[digits + 1] == UInt8(ascii: ":") else { continue }
                digits += 2
                if digits < count, text[digits] == UInt8(ascii: "\"") { digits += 1 }
            }
            var value = 0, seen = false
            while digits < count, text[digits] >= 0x30, text[digits] <= 0x39, value < 1 << 40 {
                value = value * 10 + Int(text[digits] - 0x30)
                digits += 1
                seen = true
            }
            if seen { return value }
        }
        return nil
    }
}

/// A JSON grammar check over bytes that builds nothing (RFC 8259: literals, numbers, strings
/// with their escapes and no raw control characters, nesting bounded at 64), and the shape of
/// a Loki push.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// One value and nothing after it.
    mutating func document() -> Bool {
        guard value(depth: 0) else { return false }
        skipWhitespace()
        return index == bytes.count
    }

    /// `{"streams":[{"stream":{…},"values":[[ts,line(,{…})],…]},…]}` with `ts` a decimal
    /// string and `line` a string; each value counted and its sequence number taken.
    mutating func lokiPush(result: inout ParsedBody) -> Bool {
        guard expect(UInt8(ascii: "{")), key("streams"), expect(UInt8(ascii: "[")) else { return false }
        if !peek(UInt8(ascii: "]")) {
            repeat {
                guard expect(UInt8(ascii: "{")), key("stream"), value(depth: 3), expect(UInt8(ascii: ",")), key("values"),
                      expect(UInt8(ascii: "[")) else { return false }
                if !peek(UInt8(ascii: "]")) {
                    repeat {
                        skipWhitespace()
                        let start = index
                        guard expect(UInt8(ascii: "[")), string(digitsOnly: true), expect(UInt8(ascii: ",")), string(digitsOnly: false) else { return false }
                        if peek(UInt8(ascii: ",")) {
                            guard expect(UInt8(ascii: ",")), value(depth: 5) else { return false }
                        }
                        guard expect(UInt8(ascii: "]")) else { return false }
                        result.entries += 1
                        if let seq = ParsedBody.sequenceNumber(in: UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                            result.sequences.append(seq)
                        }
                    } while next(UInt8(ascii: ","))
                }
                guard expect(UInt8(ascii: "]")), expect(UInt8(ascii: "}")) else { return false }
            } while next(UInt8(ascii: ","))
        }
        guard expect(UInt8(ascii: "]")), expect(UInt8(ascii: "}")) else { return false }
        skipWhitespace()
        return index == bytes.count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
    }

    private mutating func peek(_ byte: UInt8) -> Bool {
        skipWhitespace()
        return index < bytes.count && bytes[index] == byte
    }

    private mutating func expect(_ byte: UInt8) -> Bool {
        guard peek(byte) else { return false }
        index += 1
        return true
    }

    private mutating func next(_ byte: UInt8) -> Bool { expect(byte) }

    /// `"name":`.
    private mutating func key(_ name: StaticString) -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        let count = name.utf8CodeUnitCount
        guard index + count < bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != name.utf8Start[offset] { return false }
        index += count
        guard bytes[index] == UInt8(ascii: "\"") else { return false }
        index += 1
        return expect(UInt8(ascii: ":"))
    }

    private mutating func value(depth: Int) -> Bool {
        guard depth < 64 else { return false }
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string(digitsOnly: false)
        case UInt8(ascii: "{"):
            index += 1
            if peek(UInt8(ascii: "}")) { index += 1; return true }
            repeat {
                guard peek(UInt8(ascii: "\"")), string(digitsOnly: false), expect(UInt8(ascii: ":")), value(depth: depth + 1) else { return false }
            } while next(UInt8(ascii: ","))
            return expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if peek(UInt8(ascii: "]")) { index += 1; return true }
            repeat {
                guard value(depth: depth + 1) else { return false }
            } while next(UInt8(ascii: ","))
            return expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func digits() -> Bool {
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        return index > start
    }

    private mutating func number() -> Bool {
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() else { return false }
        }
        return true
    }

    /// A string: escapes checked (`\u` with four hex digits), raw control characters refused.
    private mutating func string(digitsOnly: Bool) -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return !digitsOnly || index - 1 > start
            }
            if byte < 0x20 { return false }
            if digitsOnly, byte < 0x30 || byte > 0x39 { return false }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count else { return false }
                    for offset in 1...4 where !bytes[index + offset].isASCIIHexDigit { return false }
                    index += 5
                default:
                    return false
                }
                continue
            }
            index += 1
        }
        return false
    }
}

extension UInt8 {
    fileprivate var isASCIIHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
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

/// One connection: parses each request's body and answers it.
private final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let receiver: CountingReceiver
    private var body: [UInt8] = []
    private var loki = false
    private var inflater: Inflater?
    private var isCountRequest = false
    private var isResetRequest = false

    init(receiver: CountingReceiver) {
        self.receiver = receiver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            isCountRequest = head.method == .GET && head.uri.hasPrefix("/count")
            isResetRequest = head.method == .GET && head.uri.hasPrefix("/reset")
            loki = head.uri.contains("/loki/api/v1/push")
            body.removeAll(keepingCapacity: true)
            inflater = head.headers["Content-Encoding"].contains { $0.lowercased().contains("gzip") } ? Inflater() : nil
        case .body(let buffer):
            buffer.withUnsafeReadableBytes { bytes in
                if let inflater {
                    inflater.inflate(bytes) { body.append(contentsOf: $0) }
                } else {
                    body.append(contentsOf: bytes)
                }
            }
        case .end:
            // A corrupt body and one cut short both count as invalid.
            let failed = inflater.map { !$0.isComplete } ?? false
            inflater = nil
            if isResetRequest {
                receiver.reset()
                respond(context: context, status: .ok, body: "0 0 0\n")
            } else if isCountRequest {
                respond(context: context, status: .ok, body: "\(receiver.count) \(receiver.distinct) \(receiver.invalid)\n")
            } else {
                var parsed = failed ? ParsedBody(valid: false) : ParsedBody.parse(body, loki: loki)
                if parsed.entries == 0 { parsed.valid = false }
                receiver.record(parsed)
                respond(context: context, status: parsed.valid ? .noContent : .badRequest, body: nil)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String?) {
        var headers = HTTPHeaders()
        // A 204 carries no Content-Length (RFC 9110 §8.6).
        if let body { headers.add(name: "Content-Length", value: "\(body.utf8.count)") } else if status != .noContent { headers.add(name: "Content-Length", value: "0") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if let body {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// The calling thread's CPU time in nanoseconds.
func threadCPUNanoseconds() -> Int {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return spec.tv_sec * 1_000_000_000 + spec.tv_nsec
}
