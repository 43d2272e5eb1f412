import Testing
@testable import Spool
@testable import SpoolForwarding

/// HTTP/NDJSON: one `EntryJSON` object per line, each line ending in a newline.
@Suite struct SinkNDJSONTests {
    typealias F = SinkFixtures

    @Test func eachEntryIsOneNewlineTerminatedLine() throws {
        let sink = NDJSONSink(configuration: .init(url: "https://logs.example.net/ingest?source=spool"))
        let request = try #require(try sink.encode([
            F.entry(id: 1, .error, "payment declined", context: #"{"order":8812}"#),
            F.entry(id: 2, at: F.t0 + 500_000_000, .info, topic: "auth", "line\nbreak"),
        ]))
        let text = String(decoding: request.body, as: UTF8.self)
        #expect(text.hasSuffix("}\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty)
        #expect(try F.json(String(lines[0])) == (try F.json(#"""
            {"schema":"spool/log/v1","id":1,"ts":"2024-11-29T09:40:00.000Z","ts_ns":1732873200000000000,
             "level":"error","topic":"billing.payment","message":"payment declined","context":{"order":8812}}
            """#)))
        #expect(try F.json(String(lines[1])) == (try F.json(#"""
            {"schema":"spool/log/v1","id":2,"ts":"2024-11-29T09:40:00.500Z","ts_ns":1732873200500000000,
             "level":"info","topic":"auth","message":"line\nbreak"}
            """#)))
        #expect(request.method == "POST")
        #expect(request.url == "https://logs.example.net/ingest?source=spool")
        #expect(F.header(request, "Content-Type") == "application/x-ndjson")
        #expect(request.allowsGzip)
    }
}
