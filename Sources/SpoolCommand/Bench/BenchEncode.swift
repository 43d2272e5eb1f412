import ArgumentParser
import CDeflate
import Foundation
import Spool
import SpoolForwarding

/// `spool bench encode`: the encoders alone, on the corpus, against Foundation's encoders
/// writing the same documents in the same run.
struct BenchEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Request bodies per second: Spool's byte writer against JSONSerialization and JSONEncoder, on the corpus.",
        discussion: """
            Encodes --entries entries of the corpus in batches of --batch-size as Loki push \
            bodies and as NDJSON bodies with Spool's sinks, and the same Loki documents with \
            Foundation's JSONSerialization (from dictionaries and arrays) and JSONEncoder (from \
            Codable structs) built per batch, as an encoder built on them would. Then gzips the \
            Loki bodies with the transport's level 1 (ISA-L), libdeflate's level 1 and the \
            transport's level 6 (libdeflate). Each case runs --rounds times; the best round is reported (CPU-bound, so the best is the least \
            disturbed by other processes).

            Example:
              swift build -c release && .build/release/spool bench encode
            """
    )

    @Option(help: "Entries per round.") var entries = 200_000
    @Option(help: "Entries per body.") var batchSize = 1000
    @Option(help: "Rounds per case.") var rounds = 3

    func run() throws {
        var corpus = Corpus()
        let time = Int64(1_767_225_600_000_000_000)
        let stored: [StoredEntry] = (0..<entries).map { seq in
            let item = corpus.item(seq: seq)
            return StoredEntry(id: Int64(seq + 1), timestamp: time + Int64(seq), level: item.level, topic: item.topic,
                               message: item.message, contextJSON: item.context.map { JSONValue.object($0).description },
                               schema: LogEntry.currentSchema)
        }
        let batches = stride(from: 0, to: stored.count, by: batchSize).map { stored[$0..<min(stored.count, $0 + batchSize)] }
        let loki = try LokiSink(configuration: .init(url: "http://127.0.0.1:3100", labels: ["service": "bench"]))
        let ndjson = NDJSONSink(configuration: .init(url: "http://127.0.0.1:9000"))
        let textBytes = stored.reduce(0) { $0 + $1.message.utf8.count + ($1.contextJSON?.utf8.count ?? 0) }
        print("spool bench encode: \(entries) corpus entries (\(textBytes / entries) bytes of message and context on average), bodies of \(batchSize)")

        func measure(_ name: String, _ body: () throws -> Int) rethrows -> Double {
            var best = Double.infinity
            var bytes = 0
            for _ in 0..<rounds {
                let start = ResourceUsage.now()
                bytes = try body()
                best = min(best, (ResourceUsage.now() - start).cpuSeconds)
            }
            let rate = Double(entries) / best
            print(String(format: "  %-52@ %9.0f entries/s  %6.2f CPU s per million  %6.1f MB/s of output", name as NSString, rate, best / Double(entries) * 1e6,
                         Double(bytes) / best / 1e6))
            return rate
        }

        let spool = try measure("Loki, Spool's JSONWriter") {
            var total = 0
            for batch in batches { total += try loki.encode(batch)?.body.count ?? 0 }
            return total
        }
        _ = try measure("NDJSON, Spool's JSONWriter") {
            var total = 0
            for batch in batches { total += try ndjson.encode(batch)?.body.count ?? 0 }
            return total
        }
        let serialization = try measure("Loki, JSONSerialization (same document)") {
            var total = 0
            for batch in batches { total += try Self.serialization(batch).count }
            return total
        }
        let encoder = try measure("Loki, JSONEncoder (same document)") {
            var total = 0
            let encoder = JSONEncoder()
            for batch in batches { total += try encoder.encode(Self.codable(batch)).count }
            return total
        }
        let legacy = measure("Loki, the String writer before #14 (reference)") {
            var total = 0
            for batch in batches { total += LegacyStringWriter.loki(batch).utf8.count }
            return total
        }
        print(String(format: "  Spool / JSONSerialization: %.1f×, Spool / JSONEncoder: %.1f×, Spool / String writer before: %.1f×",
                     spool / serialization, spool / encoder, spool / legacy))
        try compression(of: batches.map { try loki.encode($0)?.body ?? [] })
    }

    /// gzip of the same Loki bodies: the transport's engines (ISA-L at level 1, libdeflate at
    /// 2–9) against libdeflate's level 1, the transport's engine before session 14.
    func compression(of bodies: [[UInt8]]) throws {
        let input = bodies.reduce(0) { $0 + $1.count }
        print("  gzip of those Loki bodies (\(input / max(1, bodies.count)) bytes each on average):")
        func measure(_ name: String, _ compress: ([UInt8]) throws -> Int) rethrows -> Double {
            var best = Double.infinity
            var output = 0
            for _ in 0..<rounds {
                let start = ResourceUsage.now()
                output = try bodies.reduce(0) { $0 + (try compress($1)) }
                best = min(best, (ResourceUsage.now() - start).cpuSeconds)
            }
            print(String(format: "  %-52@ %6.2f CPU s per million  %6.0f MB/s of JSON  %5.2f× smaller", name as NSString,
                         best / Double(entries) * 1e6, Double(input) / best / 1e6, Double(input) / Double(max(1, output))))
            return best
        }
        let isal = try measure("level 1, the transport's (ISA-L)") { try Gzip.compress($0, level: 1).readableBytes }
        guard let compressor = libdeflate_alloc_compressor(1) else { return }
        defer { libdeflate_free_compressor(compressor) }
        var scratch = [UInt8]()
        let deflate = measure("level 1, libdeflate (the transport's before)") { body in
            let bound = libdeflate_gzip_compress_bound(compressor, body.count)
            if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
            return scratch.withUnsafeMutableBytes { target in
                body.withUnsafeBytes { libdeflate_gzip_compress(compressor, $0.baseAddress, $0.count, target.baseAddress, target.count) }
            }
        }
        _ = try measure("level 6, the transport's (libdeflate)") { try Gzip.compress($0, level: 6).readableBytes }
        print(String(format: "  ISA-L / libdeflate at level 1: %.2f× the speed", deflate / isal))
    }

    /// The Loki document as Foundation values: streams by level, `[ts, line, {topic}]` values.
    static func serialization(_ batch: ArraySlice<StoredEntry>) throws -> Data {
        var order: [LogLevel] = []
        var values: [LogLevel: [[Any]]] = [:]
        for entry in batch {
            if values[entry.level] == nil { order.append(entry.level) }
            values[entry.level, default: []].append([String(entry.timestamp), entry.message, metadata(entry)])
        }
        let streams: [[String: Any]] = order.map { ["stream": ["service": "bench", "level": $0.rawValue], "values": values[$0]!] }
        return try JSONSerialization.data(withJSONObject: ["streams": streams])
    }

    /// The structured metadata Spool's Loki sink writes: the topic, and the context's
    /// top-level keys as strings.
    static func metadata(_ entry: StoredEntry) -> [String: String] {
        var metadata = ["topic": entry.topic]
        if let context = entry.entry.context {
            for (key, value) in context where metadata[key] == nil {
                if case .string(let text) = value { metadata[key] = text } else { metadata[key] = value.description }
            }
        }
        return metadata
    }

    struct Push: Encodable {
        struct Stream: Encodable {
            var stream: [String: String]
            var values: [Value]
        }
        struct Value: Encodable {
            var time: String
            var line: String
            var metadata: [String: String]
            func encode(to encoder: any Encoder) throws {
                var container = encoder.unkeyedContainer()
                try container.encode(time)
                try container.encode(line)
                try container.encode(metadata)
            }
        }
        var streams: [Stream]
    }

    static func codable(_ batch: ArraySlice<StoredEntry>) -> Push {
        var order: [LogLevel] = []
        var values: [LogLevel: [Push.Value]] = [:]
        for entry in batch {
            if values[entry.level] == nil { order.append(entry.level) }
            values[entry.level, default: []].append(Push.Value(time: String(entry.timestamp), line: entry.message, metadata: metadata(entry)))
        }
        return Push(streams: order.map { Push.Stream(stream: ["service": "bench", "level": $0.rawValue], values: values[$0]!) })
    }
}

/// The Loki encoding as it was before #14 (a `String` per entry, escaping one scalar at a time
/// when a line held a quote), kept only as the reference of `spool bench encode`.
enum LegacyStringWriter {
    static func loki(_ batch: ArraySlice<StoredEntry>) -> String {
        var order: [LogLevel] = []
        var values: [LogLevel: String] = [:]
        for entry in batch {
            var value = values[entry.level] == nil ? "" : ","
            if values[entry.level] == nil { order.append(entry.level) }
            value += "[\"" + String(entry.timestamp) + "\","
            writeString(entry.message, to: &value)
            value += ",{"
            for (index, pair) in BenchEncode.metadata(entry).sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { value += "," }
                writeString(pair.key, to: &value)
                value += ":"
                writeString(pair.value, to: &value)
            }
            value += "}]"
            values[entry.level, default: ""] += value
        }
        var body = "{\"streams\":["
        for (index, level) in order.enumerated() {
            if index > 0 { body += "," }
            body += "{\"stream\":{\"level\":\"\(level.rawValue)\",\"service\":\"bench\"},\"values\":["
            body += values[level]!
            body += "]}"
        }
        return body + "]}"
    }

    static func writeString(_ text: String, to output: inout String) {
        output += "\""
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            output += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": output += "\\\""
                case "\\": output += "\\\\"
                case "\n": output += "\\n"
                case "\r": output += "\\r"
                case "\t": output += "\\t"
                case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
                default: output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
