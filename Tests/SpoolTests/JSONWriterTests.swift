import Foundation
import NIOCore
import SpoolTestServer
import Synchronization
import Testing
@testable import Spool
@testable import SpoolForwarding

/// The byte writer and the bodies written with it, checked by parsing them with Foundation's
/// JSONSerialization (an independent parser), never by comparing spellings alone.
@Suite struct JSONWriterTests {
    /// Text that exercises every escaping rule: runs with no escape between escapes, escapes
    /// first and last, every control character, non-ASCII of 2, 3 and 4 bytes, DEL.
    static let awkward: [String] = [
        "",
        "plain ascii, nothing to escape",
        "\"quoted\" at the start and the \"end\"",
        "back\\slash C:\\tmp\\ and a trailing \\",
        "\n\r\t\u{08}\u{0C} all named escapes",
        String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) }) + "after the controls",
        "Grüße aus Köln, 東京の注文 ✓, emoji 🚀👍🏽, DEL \u{7F} end",
        "\u{0}",
        "\\\"",
        "msg=\"lorem \\\"ipsum\\\" dolor\"\tseq=12\u{1F}",
    ]

    /// Parses `bytes` as one JSON document with JSONSerialization.
    static func parse(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test(arguments: awkward)
    func stringsRoundTripThroughAnIndependentParser(_ text: String) throws {
        var writer = JSONWriter()
        writer.writeString(text)
        #expect(try Self.parse(writer.bytes) as? String == text)
        // Only what JSON requires is escaped: non-ASCII and DEL stay as their bytes.
        let escapes = text.utf8.filter { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }.count
        #expect(writer.count >= text.utf8.count + 2 + escapes)
        #expect(writer.count <= text.utf8.count + 2 + escapes * 5)
    }

    @Test func everyEscapeIsSpelledOneWayAcrossLongRuns() {
        // Escapes first, last, adjacent and between runs longer than the eight-byte scan.
        let run = "logfmt é東 line "  // 18 bytes
        let text = "\"" + run + "\\\n\r\t\u{8}\u{C}\u{0}\u{1F}" + run + run + "\u{7F}/\""
        var writer = JSONWriter()
        writer.append(raw: "x")  // the string lands after what is already written
        writer.writeString(text)
        let expected = #"x"\""# + run + #"\\\n\r\t\b\f\u0000\u001f"# + run + run + "\u{7F}/" + #"\"""#
        #expect(String(decoding: writer.bytes, as: UTF8.self) == expected)
        var plain = JSONWriter()
        plain.writeString(run + run)
        #expect(String(decoding: plain.bytes, as: UTF8.self) == "\"" + run + run + "\"")
    }

    /// The word-at-a-time scan trusts the lowest byte its mask flags: it must be the first byte
    /// to escape, and a mask of zero must mean there is none; bytes drawn around every edge of
    /// the tests (0x1F/0x20, the quote, the backslash, 0x7F/0x80, borrows from 0x00).
    @Test func theEscapeMasksLowestByteIsTheFirstToEscape() {
        let edges: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x61, 0x7F, 0x80, 0x9F, 0xA2, 0xDC, 0xFF]
        var generator = SplitMix64(seed: 8)
        for _ in 0..<200_000 {
            let bytes = (0..<8).map { _ in edges.randomElement(using: &generator)! }
            let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let first = bytes.firstIndex { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
            let mask = JSONWriter.escapeMask(word)
            #expect(mask == 0 ? first == nil : first == mask.trailingZeroBitCount / 8, "\(bytes)")
        }
    }

    @Test func longStringsMatchAPerByteReference() {
        // Past the 1 KiB stack buffer: its flushes, a run longer than it, an escape on each side
        // of a flush, a string of escapes only; and seeded random text up to 5,000 bytes.
        let long = String(repeating: "a", count: 3000)
        var cases = [
            "\"" + String(repeating: "x", count: 10_000) + "\n",
            String(repeating: "\u{1}", count: 300),
            String(repeating: "ab\"", count: 700),
            "\t" + long + "\"" + long + "\\",
            String(repeating: "y", count: 1020) + "\n\u{0}" + String(repeating: "z", count: 1030),
        ]
        var state: UInt64 = 0x9E37_79B9
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        let pool: [String] = ["\"", "\\", "\n", "\u{1F}", "a", "é", "東", "😀", String(repeating: "r", count: 200)]
        for _ in 0..<200 {
            var text = ""
            while text.utf8.count < Int(next() % 5000) { text += pool[Int(next() % UInt64(pool.count))] }
            cases.append(text)
        }
        for text in cases {
            var writer = JSONWriter()
            writer.writeString(text)
            #expect(writer.bytes == Self.referenceEscape(text), "\(text.utf8.count) bytes")
        }
    }

    /// RFC 8259's escaping, byte by byte, spelled as the writer spells it.
    static func referenceEscape(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case ..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
        return out
    }

    @Test func randomTextRoundTrips() throws {
        // Seeded, so a failure repeats; scalars from every UTF-8 length and the escape set.
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        let pool: [Unicode.Scalar] = ["\"", "\\", "\n", "\u{0}", "\u{1F}", "a", "z", " ", "é", "€", "東", "😀", "\u{7F}", "/"]
        for _ in 0..<500 {
            var text = ""
            for _ in 0..<Int(next() % 40) { text.unicodeScalars.append(pool[Int(next() % UInt64(pool.count))]) }
            var writer = JSONWriter()
            writer.writeString(text)
            #expect(try Self.parse(writer.bytes) as? String == text)
        }
    }

    @Test(arguments: [Int64.min, -1, 0, 7, 10, 1_732_873_200_000_000_000, Int64.max])
    func integersAreWrittenInDecimal(_ number: Int64) {
        var writer = JSONWriter()
        writer.writeInt(number)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == String(number))
    }

    @Test(arguments: [Int64.min, -1, 0, 9, 10, 1_732_873_200_000_000_000, Int64.max])
    func integersGoOutWithTheirPunctuationInOneCopy(_ number: Int64) {
        var writer = JSONWriter()
        writer.append(byte: UInt8(ascii: "x"))
        writer.writeInt(number, prefix: ",[\"", suffix: "\",")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "x,[\"\(number)\",")
    }

    /// Two digits at a time: every count of digits, odd and even, and the numbers around each
    /// power of ten.
    @Test func integersOfEveryLengthAreWrittenInDecimal() {
        var numbers = Array(Int64(-1000)...1000)
        var power: Int64 = 10
        while true {
            numbers += [power - 1, power, power + 1, -power, 7 * power + 3]
            let (next, overflow) = power.multipliedReportingOverflow(by: 10)
            if overflow { break }
            power = next
        }
        for number in numbers {
            var writer = JSONWriter()
            writer.writeInt(number)
            #expect(String(decoding: writer.bytes, as: UTF8.self) == String(number))
        }
    }

    @Test(arguments: [(Int64(0), "1970-01-01T00:00:00.000Z"), (-1, "1969-12-31T23:59:59.999Z"),
                      (1_732_873_200_123_456_789, "2024-11-29T09:40:00.123Z"), (Int64.max, "2262-04-11T23:47:16.854Z")])
    func timestampsAreWrittenInISO8601(_ nanoseconds: Int64, _ expected: String) {
        #expect(UnixTime.iso8601(nanoseconds: nanoseconds) == expected)
    }

    @Test func valuesWithNestingAndNumbersParseBack() throws {
        let value: JSONValue = ["z": [1, -2, 2.5, "é\n", nil, true], "a": ["b": .double(1e-5), "c": .int(.min)], "n": .double(.nan)]
        var writer = JSONWriter()
        writer.write(value)
        let parsed = try #require(try Self.parse(writer.bytes) as? [String: Any])
        #expect((parsed["z"] as? [Any])?.count == 6)
        #expect((parsed["a"] as? [String: Any])?["c"] as? Int64 == .min)
        #expect(parsed["n"] as? String == "NaN")
        // Keys sorted: one object has one spelling.
        #expect(String(decoding: writer.bytes, as: UTF8.self).hasPrefix(#"{"a":{"b":1e-05,"c":-9223372036854775808},"n":"NaN","z":"#))
    }

    // MARK: - Bodies

    static func entries() -> [StoredEntry] {
        awkward.enumerated().map { index, text in
            StoredEntry(id: Int64(index + 1), timestamp: 1_732_873_200_000_000_000 + Int64(index), level: index % 3 == 0 ? .error : .info,
                        topic: "app.\(text.isEmpty ? "empty" : "t\(index % 2)")", message: text,
                        contextJSON: index % 2 == 0 ? JSON.string(["note": .string(text), "n": .int(Int64(index))]) : nil,
                        schema: LogEntry.currentSchema)
        }
    }

    @Test func lokiBodiesParseAndCarryEveryLineExactly() throws {
        let entries = Self.entries()
        for line in [LokiSink.Configuration.LineFormat.message, .json] {
            let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:1", labels: ["service": "t"], line: line))
            let request = try #require(try sink.encode(entries[...]))
            let root = try #require(try Self.parse(request.body) as? [String: Any])
            let streams = try #require(root["streams"] as? [[String: Any]])
            var lines: [String: String] = [:]  // timestamp → line
            for stream in streams {
                for value in try #require(stream["values"] as? [[Any]]) {
                    lines[try #require(value[0] as? String)] = try #require(value[1] as? String)
                }
            }
            #expect(lines.count == entries.count)
            for entry in entries {
                let text = try #require(lines[String(entry.timestamp)])
                if line == .message {
                    #expect(text == entry.message)
                } else {
                    let object = try #require(try Self.parse(Array(text.utf8)) as? [String: Any])
                    #expect(object["message"] as? String == entry.message)
                    #expect(object["topic"] as? String == entry.topic)
                    #expect(((object["context"] as? [String: Any])?["note"] as? String) == (entry.contextJSON == nil ? nil : entry.message))
                }
            }
        }
    }

    @Test func ndjsonBodiesHaveOneParsableLinePerEntry() throws {
        let entries = Self.entries()
        let request = try #require(try NDJSONSink(configuration: .init(url: "http://127.0.0.1:1")).encode(entries[...]))
        #expect(request.body.last == UInt8(ascii: "\n"))
        let lines = request.body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == entries.count)
        for (line, entry) in zip(lines, entries) {
            let object = try #require(try Self.parse(Array(line)) as? [String: Any])
            #expect(object["message"] as? String == entry.message)
            #expect(object["topic"] as? String == entry.topic)
            #expect(object["id"] as? Int64 == entry.id)
            #expect(object["ts_ns"] as? Int64 == entry.timestamp)
            #expect(object["ts"] as? String == UnixTime.iso8601(nanoseconds: entry.timestamp))
            #expect(String(decoding: line, as: UTF8.self) == EntryJSON.line(entry))
        }
    }

    @Test func otlpBodiesParseWithEveryMessageAndAttribute() throws {
        let entries = Self.entries()
        let request = try #require(try OTLPSink(configuration: .init(url: "http://127.0.0.1:1")).encode(entries[...]))
        let root = try #require(try Self.parse(request.body) as? [String: Any])
        let records = try #require(((((root["resourceLogs"] as? [[String: Any]])?.first?["scopeLogs"]) as? [[String: Any]])?.first?["logRecords"]) as? [[String: Any]])
        #expect(records.count == entries.count)
        for (record, entry) in zip(records, entries) {
            #expect((record["body"] as? [String: Any])?["stringValue"] as? String == entry.message)
            #expect(record["timeUnixNano"] as? String == String(entry.timestamp))
            let attributes = try #require(record["attributes"] as? [[String: Any]])
            let note = attributes.first { $0["key"] as? String == "note" }.flatMap { ($0["value"] as? [String: Any])?["stringValue"] as? String }
            #expect(note == (entry.contextJSON == nil ? nil : entry.message))
        }
    }

    @Test func invalidUTF8InAMessageArrivesAsReplacementCharacters() throws {
        // What a spool gives back for bytes that were not UTF-8: Swift replaced them on the way in.
        let message = String(decoding: [0x61, 0xFF, 0xC3, 0x22, 0x62, 0xED, 0xA0, 0x80], as: UTF8.self)
        let entry = StoredEntry(id: 1, timestamp: 1, level: .info, topic: "t", message: message, contextJSON: nil, schema: LogEntry.currentSchema)
        let loki = try #require(try LokiSink(configuration: .init(url: "http://127.0.0.1:1")).encode([entry][...]))
        #expect(String(validating: loki.body, as: UTF8.self) != nil)
        let root = try #require(try Self.parse(loki.body) as? [String: Any])
        let value = try #require(((root["streams"] as? [[String: Any]])?.first?["values"] as? [[Any]])?.first)
        #expect(value[1] as? String == "a\u{FFFD}\u{FFFD}\"b\u{FFFD}\u{FFFD}\u{FFFD}")
    }

    @Test(arguments: [1, 6, 9])
    func gzipBodiesInflateToTheBody(_ level: Int) throws {
        let body = try #require(try LokiSink(configuration: .init(url: "http://127.0.0.1:1")).encode(Self.entries()[...])).body
        let bytes = try gzipped(body, level: level)
        #expect(bytes.count < body.count)
        #expect(try SpoolTestServer.Gzip.decompress(bytes) == body)
    }

    /// The output buffer is first sized for half the body, which log lines always fit in; a body
    /// that does not compress (already compressed, random) is compressed again into the worst
    /// case's size, never cut short or refused.
    @Test(arguments: [0, 1, 100, 4096, 1 << 20], [1, 6])
    func anIncompressibleBodyStillCompressesWhole(_ count: Int, level: Int) throws {
        var generator = SplitMix64(seed: UInt64(count))
        let body = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let bytes = try gzipped(body, level: level)
        #expect(bytes.count > count / 2 + 1024 || count < 2048)
        #expect(try SpoolTestServer.Gzip.decompress(bytes) == body)
    }

    /// An engine's error (igzip's negative codes) is thrown, not taken for a length: the buffer
    /// would have moved its writer index backwards, a trap.
    @Test func anEnginesErrorIsThrown() {
        let error = #expect(throws: SpoolError.self) {
            try Gzip.fill(Array(repeating: 65, count: 5000), bound: 6000, allocator: ByteBufferAllocator(), engine: "test") { _, _ in -3 }
        }
        #expect(error?.message.contains("failed with error -3") == true, "\(String(describing: error))")
    }

    /// A request in flight holds the gzip body it sends, not the worst case's room (slightly
    /// more than the body itself, which the first version allocated for every request).
    @Test(arguments: [1, 6])
    func aCompressedBodyHoldsLittleMoreThanItsBytes(level: Int) throws {
        let entries = (0..<100).flatMap { _ in Self.entries() }
        let body = try #require(try LokiSink(configuration: .init(url: "http://127.0.0.1:1")).encode(entries[...])).body
        let buffer = try Gzip.compress(body, level: level)
        #expect(buffer.readableBytes * 4 < body.count)
        #expect(buffer.capacity <= 2 * buffer.readableBytes + 4096, "capacity \(buffer.capacity) for \(buffer.readableBytes) bytes")
    }

    /// Compressors are kept between requests: one in use by a thread must never be handed to
    /// another (each thread's body is different, so a shared one shows as a wrong result).
    @Test func gzipFromManyThreadsAtOnceGivesEachItsOwnBody() async throws {
        let failures = Mutex(0)
        await onThreads(6) { thread in
            for round in 0..<200 {
                let body = Array("thread \(thread) round \(round) ".utf8) + [UInt8](repeating: UInt8(48 + thread), count: 2000 + round)
                let ok = (try? gzipped(body, level: 1 + round % 2)).flatMap { try? SpoolTestServer.Gzip.decompress($0) } == body
                if !ok { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        // An empty body is a valid (empty) gzip member.
        #expect(try SpoolTestServer.Gzip.decompress(gzipped([])) == [])
    }
}

/// Loki's structured metadata is written straight from the stored context text; it must be the
/// object the decoding path (`metadataObject`) makes, for every shape a context can have.
@Suite struct LokiMetadataFromStoredContextTests {
    static let contexts: [String] = [
        #"{"duration_ms":12.5,"request_id":"8f14e45f","user":4411}"#,
        #"{"path":"/api/v1/orders/7?q=\"x\"","note":"tab\there \\ back","emoji":"Grüße 🚀"}"#,
        #"{"a.b":1,"a-b":2,"9lives":true,"__name":"x","topic":"not the topic","n":null}"#,
        #"{"nested":{"z":1,"a":[1,"two",{"k":"v"}]},"list":[],"empty":""}"#,
        #"{"neg":-42,"min":-9223372036854775808,"big":18446744073709551616,"tiny":1e-7,"negzero":-0.0,"f":0.1}"#,
        // Hand-edited: whitespace, escapes a writer would not make, exponent numbers.
        #" { "b" : "caf\u00e9" , "a" : 1e3 , "c" : "\/slash" } "#,
        #"{"ctl":"\u0001\u001f","quote":"\"","bs":"\\"}"#,
        // Not for the fast path: duplicate keys, not an object, not JSON.
        #"{"dup":1,"dup":2}"#,
        #"[1,2]"#,
        #"not json at all"#,
        "{}",
    ]

    @Test(arguments: contexts)
    func metadataMatchesTheDecodedContext(_ context: String) throws {
        let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:1"))
        let entry = StoredEntry(id: 1, timestamp: 5, level: .info, topic: "billing.payment", message: "m", contextJSON: context,
                                schema: LogEntry.currentSchema)
        let request = try #require(try sink.encode([entry][...]))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        let value = try #require(((root["streams"] as? [[String: Any]])?.first?["values"] as? [[Any]])?.first)
        let sent = value.count == 3 ? try #require(value[2] as? [String: String]) : [:]
        var expected: [String: String] = [:]
        for (key, value) in sink.metadataObject(for: entry) ?? [:] {
            guard case .string(let text) = value else { Issue.record("metadata values are strings"); continue }
            expected[key] = text
        }
        #expect(sent == expected)
        #expect(sent["topic"] == "billing.payment")
        // And the keys go out sorted, as the writer sorts objects.
        var writer = JSONWriter()
        sink.writeStructuredMetadata(for: entry, to: &writer)
        let text = String(decoding: writer.bytes, as: UTF8.self)
        let keys = sent.keys.sorted()
        var position = text.startIndex
        for key in keys {
            let found = try #require(text.range(of: "\"\(key)\":", range: position..<text.endIndex))
            position = found.upperBound
        }
    }

    /// What the decoding path writes for `context`: `,` and the sorted object, or nothing.
    static func decodingPathBytes(_ sink: LokiSink, _ entry: StoredEntry) -> [UInt8] {
        guard let metadata = sink.metadataObject(for: entry) else { return [] }
        var writer = JSONWriter()
        writer.append(byte: UInt8(ascii: ","))
        writer.writeObject(metadata)
        return writer.bytes
    }

    static func storedFormBytes(_ context: String, topic: String?) -> [UInt8]? {
        var context = context
        var writer = JSONWriter()
        var scratch = LokiSink.MetadataScratch()
        var topicText = topic ?? ""
        let taken = context.withUTF8 { text in
            topicText.withUTF8 { LokiSink.writeStoredFormMetadata(text, topic: topic == nil ? nil : $0, to: &writer, scratch: &scratch) }
        }
        return taken ? writer.bytes : nil
    }

    /// Contexts as Spool stores them (written by `JSONWriter`) are copied byte for byte, and
    /// the copy is exactly what the decoding path writes; 2,000 random contexts, every value
    /// shape the stored form holds, topics before, between and after the keys.
    @Test func storedFormMetadataIsTheDecodingPathsBytes() throws {
        var generator = SplitMix64(seed: 12)
        let values: [JSONValue] = [
            "8f14e45f", "", "say \"hi\"", "back\\slash", "line\nbreak\ttab\r\u{8}\u{c}", "Grüße 🚀", "日本語のログ",
            .int(0), .int(-42), .int(4411), .int(999_999_999_999_999_999), .int(-999_999_999_999_999_999),
            .double(281.4), .double(0.1), .double(12.0), .double(-0.0), .double(0.0001), .double(1234567.125),
            .double(999_999_999_999_999.0), .double(-3.25), .bool(true), .bool(false), .null,
        ]
        let keys = ["duration_ms", "request_id", "user", "path", "a", "Z", "topic", "toq", "tapir", "zeta", "_x", "k9", "user_id",
                    "topi", "topica", "topic_id", "Topic", "_", String(repeating: "k", count: 1024), String(repeating: "k", count: 1025)]
        let topics: [String?] = [nil, "billing.payment", "a \"quoted\" topic"]
        var doublesCopied = 0
        for round in 0..<2000 {
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                object[keys.randomElement(using: &generator)!] = values.randomElement(using: &generator)!
            }
            // Half the time a double of any magnitude and precision: the copy takes it only when
            // its text is what the decoding path writes, and must then write the same.
            let withDouble = Bool.random(using: &generator)
            if withDouble {
                let magnitude = Double.random(in: -12...18, using: &generator)
                let digits = pow(10, Double(Int.random(in: 0...6, using: &generator)))
                object["d"] = .double((Double.random(in: -1...1, using: &generator) * pow(10, magnitude) * digits).rounded() / digits)
            }
            let context = JSON.string(object)
            let topic = topics[round % topics.count]
            let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:1", topic: topic == nil ? .line : .structuredMetadata))
            let entry = StoredEntry(id: 1, timestamp: 5, level: .info, topic: topic ?? "t", message: "m", contextJSON: context,
                                    schema: LogEntry.currentSchema)
            let sanitizable = object.keys.contains { $0.utf8.count > 1024 }
            guard let copied = Self.storedFormBytes(context, topic: topic) else {
                // Only a key longer than a label name or a double may send it to the parser.
                #expect(sanitizable || withDouble, "not taken as stored form: \(context)")
                continue
            }
            if withDouble { doublesCopied += 1 }
            #expect(!sanitizable, "a key longer than a label name was copied: \(context.prefix(80))")
            #expect(copied == Self.decodingPathBytes(sink, entry), "\(context)")
            // And the whole entry, through encode, says the same.
            var writer = JSONWriter()
            sink.writeStructuredMetadata(for: entry, to: &writer)
            #expect(writer.bytes == copied)
        }
        #expect(doublesCopied > 200, "too few contexts with a double were copied to test the copy: \(doublesCopied)")
    }

    /// Text in any other form is left to the decoding path, which then writes the metadata.
    @Test(arguments: [
        #"{"a":1e-05}"#, #"{"a":1e+17}"#, #"{"a":12.50}"#, #"{"a":0.00001}"#, #"{"a":-0}"#, #"{"a":1234567890123456789}"#,
        #"{"a":1.2345678901234567}"#, #"{"a":01}"#, #"{"a":"\u00e9"}"#, #"{"a":"\/"}"#, #"{"a":{"b":1}}"#, #"{"a":[1]}"#,
        #"{"b":1,"a":2}"#, #"{"a":1,"a":2}"#, #"{"a.b":1}"#, #"{"9a":1}"#, #"{"__a":1}"#, #"{ "a":1}"#, #"{"a" :1}"#,
        #"{"a":1,}"#, #"{"a":tru}"#, #"{"a":"x}"#, #"{"a""#, "{}", "[1]", "not json",
    ])
    func otherFormsAreLeftToTheDecodingPath(_ context: String) throws {
        #expect(Self.storedFormBytes(context, topic: "t") == nil)
    }

    /// Loki's limits cut the copy where they cut the decoding path: 128 entries, 64 KiB, a
    /// topic too long to fit (then a context key named `topic` takes its place).
    @Test func storedFormMetadataKeepsLokisLimits() throws {
        let many = Dictionary(uniqueKeysWithValues: (0..<200).map { ("k\($0)", JSONValue.int(Int64($0))) })
        let big = String(repeating: "x", count: 30_000)
        let cases: [(context: [String: JSONValue], topic: String)] = [
            (many, "billing"),
            (["a": .string(big), "b": .string(big), "c": .string(big), "d": "small"], "t"),
            (["topic": "from the context", "user": .int(1)], String(repeating: "t", count: 70_000)),
            (["topic": "from the context", "user": .int(1)], "billing"),
            // The topic sorts among the keys, and the entry limit falls after it.
            (Dictionary(uniqueKeysWithValues: (0..<200).map { ("\($0 % 2 == 0 ? "a" : "z")\($0)", JSONValue.int(Int64($0))) }), "billing"),
            (Dictionary(uniqueKeysWithValues: (0..<200).map { ("\($0 % 2 == 0 ? "a" : "z")\($0)", JSONValue.int(Int64($0))) })
                .merging(["topic": "x"]) { $1 }, "billing"),
        ]
        for (object, topic) in cases {
            let context = JSON.string(object)
            let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:1"))
            let entry = StoredEntry(id: 1, timestamp: 5, level: .info, topic: topic, message: "m", contextJSON: context,
                                    schema: LogEntry.currentSchema)
            let copied = try #require(Self.storedFormBytes(context, topic: topic))
            #expect(copied == Self.decodingPathBytes(sink, entry))
        }
    }

    @Test func metadataStopsAtLokisByteLimitAsBefore() throws {
        let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:1"))
        let big = String(repeating: "x", count: 30_000)
        let context = JSON.string(["a": .string(big), "b": .string(big), "c": .string(big), "d": "small"])
        let entry = StoredEntry(id: 1, timestamp: 5, level: .info, topic: "t", message: "m", contextJSON: context, schema: LogEntry.currentSchema)
        let request = try #require(try sink.encode([entry][...]))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        let value = try #require(((root["streams"] as? [[String: Any]])?.first?["values"] as? [[Any]])?.first)
        let sent = try #require(value[2] as? [String: String])
        #expect(Set(sent.keys) == ["topic", "a", "b", "d"])
    }
}
