import Spool

/// The forwarding benchmarks' workload: log lines shaped like users' lines, reproducible from a
/// seed. A mix of
/// - logfmt with a quoted `msg` (the shape, ~210 bytes), some with escaped quotes in it;
/// - JSON lines as pino, zap and slog write them, with `\"`, `\\`, `\n` and `\t` escapes;
/// - non-ASCII text (German, Japanese, emoji) in both;
/// - sizes from ~50 bytes (a short event) to ~2,000 (a stack trace);
/// and, as entries, a context object of a few keys on about half of them.
///
/// Every line carries `seq=N` (logfmt) or `"seq":N` (JSON), N from 0, so a receiver can check
/// that each one arrived.
struct Corpus {
    /// One generated entry: what `spool ingest` would store for the line, and the line.
    struct Item {
        var level: LogLevel
        var topic: String
        var message: String
        var context: [String: JSONValue]?
        /// The line as a program would have written it (for `--stdin`).
        var line: String
    }

    private var state: UInt64

    init(seed: UInt64 = 0x5eed) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    }

    /// xorshift64*: fast, reproducible, good enough to pick words.
    private mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    private mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    private static let words = [
        "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
        "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "request",
        "upstream", "timeout", "retrying", "connection", "cache", "miss", "order", "payment", "accepted", "user",
    ]
    private static let foreign = ["Grüße", "aus", "Köln", "東京", "の", "注文", "✓", "🚀", "naïve", "café", "Ωmega", "über"]
    private static let topics = ["app.bench", "billing.payment", "http.access", "db.pool", "auth.session", "worker.jobs"]
    private static let levels: [LogLevel] = [.info, .info, .info, .info, .info, .debug, .debug, .notice, .warning, .error]

    /// `count` words, about a tenth non-ASCII when `foreign`.
    private mutating func text(words count: Int, foreign: Bool) -> String {
        var output = ""
        for index in 0..<count {
            if index > 0 { output += " " }
            output += foreign && below(10) == 0 ? Self.foreign[below(Self.foreign.count)] : Self.words[below(Self.words.count)]
        }
        return output
    }

    /// A template: the item generated with markers in place of its sequence number (U+0001)
    /// and time (U+0002), cut there, so that making an entry costs a few concatenations, not
    /// the generator's dozens (the benchmarks time the forwarder, not this).
    private struct Template {
        var level: LogLevel
        var topic: String
        var message: [Part]
        var context: [String: JSONValue]?
        var line: [Part]
    }

    /// Text followed by what goes after it.
    private struct Part {
        enum Next { case seq, time, end }
        var text: String
        var next: Next
    }

    private static let seqMarker: Unicode.Scalar = "\u{1}"
    private static let timeMarker: Unicode.Scalar = "\u{2}"
    private static let poolSize = 4096
    private var pool: [Template] = []

    private static func parts(_ text: String) -> [Part] {
        var parts: [Part] = []
        var current = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case seqMarker: parts.append(Part(text: current, next: .seq)); current = ""
            case timeMarker: parts.append(Part(text: current, next: .time)); current = ""
            default: current.unicodeScalars.append(scalar)
            }
        }
        parts.append(Part(text: current, next: .end))
        return parts
    }

    private static func join(_ parts: [Part], seq: String, time: () -> String) -> String {
        var output = ""
        for part in parts {
            output += part.text
            switch part.next {
            case .seq: output += seq
            case .time: output += time()
            case .end: break
            }
        }
        return output
    }

    /// The entry with sequence number `seq`: one of 4,096 generated shapes (chosen by a hash of
    /// `seq`) with `seq` in it, and in the line `seq`'s time (one entry per millisecond from
    /// 2026-01-01). Without `withLine`, the item's `line` is empty (the in-process benchmarks
    /// need only the entry).
    mutating func item(seq: Int, withLine: Bool = true) -> Item {
        if pool.isEmpty {
            pool = (0..<Self.poolSize).map { _ in
                let item = generate(seq: -1)
                return Template(level: item.level, topic: item.topic, message: Self.parts(item.message), context: item.context,
                                line: Self.parts(item.line))
            }
        }
        var hash = UInt64(seq) &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 29
        let template = pool[Int(hash % UInt64(Self.poolSize))]
        let digits = String(seq)
        let line = withLine ? Self.join(template.line, seq: digits, time: { Self.time(seq: seq) }) : ""
        return Item(level: template.level, topic: template.topic, message: Self.join(template.message, seq: digits, time: { "" }),
                    context: template.context, line: line)
    }

    private static func time(seq: Int) -> String {
        let seconds = seq / 1000, millis = seq % 1000
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "2026-01-01T\(pad(seconds / 3600 % 24, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)).\(pad(millis, 3))000Z"
    }

    /// A freshly generated entry; `seq` -1 writes the placeholder instead of a number.
    private mutating func generate(seq: Int) -> Item {
        let level = Self.levels[below(Self.levels.count)]
        let topic = Self.topics[below(Self.topics.count)]
        let foreign = below(5) == 0
        let shape = below(100)
        let time = seq < 0 ? String(Self.timeMarker) : Self.time(seq: seq)
        let seq = seq < 0 ? String(Self.seqMarker) : String(seq)
        var context: [String: JSONValue]?
        if below(2) == 0 {
            context = ["request_id": .string(String(next() & 0xFFFF_FFFF, radix: 16)), "user": .int(Int64(below(100_000))),
                       "duration_ms": .double(Double(below(100_000)) / 100)]
            if below(4) == 0 { context?["path"] = .string("/api/v1/orders/\(below(10_000))?q=\"x\"") }
        }
        switch shape {
        case 0..<10:
            // Short: ~50–80 bytes.
            let message = "seq=\(seq) " + text(words: 2 + below(4), foreign: foreign)
            return Item(level: level, topic: topic, message: message, context: context,
                        line: "\(time) level=\(level.rawValue) topic=\(topic) \(message)")
        case 10..<55:
            // The logfmt line, ~210 bytes, a quoted msg (sometimes with an escaped quote).
            var words = text(words: 18 + below(8), foreign: foreign)
            if below(4) == 0 { words += " \\\"quoted\\\" path=C:\\\\tmp" }
            let message = "seq=\(seq) user=\(below(1000)) msg=\"\(words)\""
            return Item(level: level, topic: topic, message: message, context: context,
                        line: "\(time) level=\(level.rawValue) topic=\(topic) \(message)")
        case 55..<90:
            // A JSON logger's line (pino/zap/slog-like), escapes inside the message.
            let words = text(words: 10 + below(30), foreign: foreign)
            let message = "{\"seq\":\(seq),\"msg\":\"\(words) \\\"id\\\":\\\"\(below(999))\\\"\\tdone\",\"caller\":\"orders/handler.go:\(below(400))\",\"user\":\(below(1000))}"
            return Item(level: level, topic: topic, message: message, context: context,
                        line: "{\"time\":\"\(time)\",\"level\":\"\(level.rawValue)\",\"topic\":\"\(topic)\",\"seq\":\(seq),\"msg\":\"\(words) \\\"id\\\":\\\"\(below(999))\\\"\\tdone\",\"caller\":\"orders/handler.go:\(below(400))\"}")
        default:
            // A stack trace: 600–2,000 bytes with escaped newlines and tabs.
            var trace = "seq=\(seq) unhandled error: " + text(words: 6, foreign: foreign)
            for frame in 0..<(8 + below(25)) {
                trace += "\n\tat Orders.Handler.process(\(Self.words[below(Self.words.count)]).swift:\(frame * 7 + below(7)))"
            }
            let escaped = trace.replacingNewlinesAndTabs()
            return Item(level: .error, topic: topic, message: trace, context: context,
                        line: "{\"time\":\"\(time)\",\"level\":\"error\",\"topic\":\"\(topic)\",\"seq\":\(seq),\"msg\":\"\(escaped)\"}")
        }
    }

}

extension String {
    /// `\n` and `\t` spelled as JSON escapes (the corpus's trace lines as a JSON logger writes them).
    fileprivate func replacingNewlinesAndTabs() -> String {
        var output = ""
        output.reserveCapacity(utf8.count + 64)
        for character in self {
            switch character {
            case "\n": output += "\\n"
            case "\t": output += "\\t"
            default: output.append(character)
            }
        }
        return output
    }
}
