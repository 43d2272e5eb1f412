import Foundation
import Testing
@testable import Spool

/// `spool ingest` reading what real loggers write (Tests/Corpus: 13 loggers' JSON, logfmt),
/// storing lines that do not parse raw, and keeping memory bounded for any line length.
@Suite struct CommandIngestFormatsTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Corpus")

    /// One row of expected.tsv: what a parser should take from a corpus line.
    struct Expected {
        var file: String
        var line: Int
        var source: String
        var message: String
        var level: String
        var timestamp: Int64
    }

    static func expected() throws -> [Expected] {
        let text = try String(contentsOf: corpus.appendingPathComponent("expected.tsv"), encoding: .utf8)
        return try text.split(separator: "\n").dropFirst().map { row in
            let columns = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            try #require(columns.count == 6, "\(row)")
            guard case .string(let message) = try JSONValue(parsing: columns[3]) else { throw TestFailure("message of \(row)") }
            return Expected(file: columns[0], line: try #require(Int(columns[1])), source: columns[2], message: message,
                            level: columns[4], timestamp: try #require(Int64(columns[5])))
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test(arguments: [("json-loggers.jsonl", "json"), ("logfmt.log", "logfmt")])
    func everyCorpusLineGivesTheExpectedMessageLevelAndTime(file: String, format: String) throws {
        let expected = try Self.expected().filter { $0.file == file }
        let input = try Data(contentsOf: Self.corpus.appendingPathComponent(file))
        let lineCount = String(decoding: input, as: UTF8.self).split(separator: "\n").count
        try #require(expected.count == lineCount, "expected.tsv covers every line of \(file)")
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", format], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        try #require(rows.count == expected.count)
        for (row, want) in zip(rows, expected) {
            let what = "\(file):\(want.line) (\(want.source))"
            #expect(row.message == want.message, "\(what)")
            #expect(row.level == want.level, "\(what)")
            #expect(row.timestamp == want.timestamp, "\(what)")
            #expect(row.topic == "ingest", "\(what)")
            #expect(row.context?.contains("parse_error") != true, "\(what): \(row.context ?? "")")
        }
    }

    @Test func fieldsThatAreNotMessageTimeOrLevelAreKeptAsContext() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = """
            {"level":30,"time":1764399600123,"pid":4242,"hostname":"web-1","msg":"request completed","req":{"id":7}}
            {"@t":"2025-11-29T07:00:00.1234567Z","@m":"User alice logged in","@mt":"User {User} logged in","@l":"Warning","User":"alice"}
            {"level":"weird","msg":"kept","time":"yesterday","logger":"billing.payment"}
            time=2025-11-29T07:00:00Z level=info msg="request done" path=/api dur=4.2ms

            """
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        try #require(rows.count == 4)
        #expect(rows[0].context == #"{"hostname":"web-1","pid":4242,"req":{"id":7}}"#)
        // The template Serilog also wrote is context: only the rendered message was taken.
        #expect(rows[1].context == #"{"@mt":"User {User} logged in","User":"alice"}"#)
        // A level and a time Spool cannot read stay in the context, the line at the default
        // level and the time of reading; the logger's name is the topic.
        #expect(rows[2].message == "kept" && rows[2].level == "info" && rows[2].topic == "billing.payment")
        #expect(rows[2].context == #"{"level":"weird","time":"yesterday"}"#)
        #expect(outcome.stderr.contains("line 3: level \"weird\""))
        // Not JSON: stored raw, with the reason.
        #expect(rows[3].message == "time=2025-11-29T07:00:00Z level=info msg=\"request done\" path=/api dur=4.2ms")
        #expect(rows[3].context?.hasPrefix(#"{"parse_error":"not JSON: "#) == true, "\(rows[3].context ?? "")")
    }

    /// Options that would be ignored, or store entries no topic query finds, are refused before
    /// anything is read or created: `--field` with text lines (no fields), an empty `--topic`.
    @Test(arguments: [["ingest"], ["forward", "--stdin", "--console", "--until-empty"]])
    func aFieldWithTextLinesAndAnEmptyTopicAreRefused(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        for (options, says) in [(["--field", "message=text"], "--field names fields of --format json or --format logfmt"),
                                (["--field", "message=text", "--format", "text"], "--field names fields"),
                                (["--topic", ""], "--topic must not be empty")] {
            let outcome = try SpoolBinary.run(command + ["--spool", spool] + options, input: "text=hello\n")
            #expect(outcome.status == 2, "\(options): \(outcome.stderr)")
            #expect(outcome.stderr.contains(says), "\(options): \(outcome.stderr)")
            #expect(try scratch.names() == [], "\(options)")
        }
        do {
            // A configuration file may set the format: then it is told once the file is read,
            // before the spool is opened or a sink registered.
            let config = scratch.file("spool.yaml")
            try "spool:\n  path: \(spool)\nsinks:\n  out:\n    type: console\n".write(toFile: config, atomically: true, encoding: .utf8)
            let withFile = command[0] == "ingest" ? command : ["forward", "--stdin", "--until-empty"]
            let fromFile = try SpoolBinary.run(withFile + ["--config", config, "--field", "message=text"], input: "text=hello\n")
            #expect(fromFile.status == 1 && fromFile.stderr.contains("ingest.format is text"), "\(fromFile.stderr)")
            #expect(try scratch.names() == ["spool.yaml"])
            try FileManager.default.removeItem(atPath: config)
        }
        let used = try SpoolBinary.run(command + ["--spool", spool, "--format", "logfmt", "--field", "message=text"], input: "text=hello\n")
        #expect(used.status == 0, "\(used.stderr)")
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["hello"] || command[0] == "forward")
    }

    @Test func configuredFieldNamesAreTriedBeforeTheBuiltInOnes() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let config = scratch.file("spool.yaml")
        try """
            spool:
              path: \(spool)
            ingest:
              format: json
              topic: from-file
              fields:
                message: text
                time: [when]
                level: sev

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let input = #"{"text":"custom","msg":"not this one","when":"2025-11-29T07:00:00Z","sev":"ERROR","svc":"shop"}"# + "\n"
        let outcome = try SpoolBinary.run(["ingest", "--config", config, "--field", "topic=svc"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let row = try #require(try SpoolFileProbe.entries(spool).first)
        #expect(row.message == "custom" && row.level == "error" && row.topic == "shop")
        #expect(row.timestamp == 1_764_399_600_000_000_000)
        #expect(row.context == #"{"msg":"not this one"}"#)
    }

    @Test func linesThatDoNotParseAreStoredRawCountedAndReported() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = """
            {"message":"one"}
            {"message":"two",
            ["not","an","object"]
            {"level":"error"}
            plain text among JSON

            """
        let before = SystemClock().now.nanoseconds
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json", "--topic", "web", "--level", "notice"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        #expect(rows.map(\.message) == [
            "one", #"{"message":"two","#, #"["not","an","object"]"#, #"{"level":"error"}"#, "plain text among JSON",
        ])
        // Raw lines: default level and topic, the time of reading, the reason in the context.
        for index in [1, 2, 4] {
            #expect(rows[index].level == "notice" && rows[index].topic == "web")
            #expect(rows[index].timestamp >= before)
            #expect(rows[index].context?.hasPrefix(#"{"parse_error":"not "#) == true, "\(rows[index].context ?? "")")
        }
        // An object without a message parses: its text is the message, its level is used.
        #expect(rows[3].level == "error" && rows[3].context == nil)
        let lines = outcome.stderrLines
        for number in [2, 3, 5] {
            #expect(lines.contains { $0.hasPrefix("spool: warning: line \(number): not ") && $0.hasSuffix("stored raw (its context's parse_error says why)") }, "\(lines)")
        }
        #expect(lines.last?.hasPrefix("spool: warning: 3 of 5 input lines did not parse as json and were stored raw") == true, "\(lines)")
        let stats = try SpoolBinary.run(["stats", "--spool", spool])
        #expect(stats.stdout.contains("3 input lines did not parse and were stored raw"), "\(stats.stdout)")
        let json = try SpoolBinary.run(["stats", "--spool", spool, "--json"])
        #expect(json.stdout.contains(#""raw_stored_lines":3"#), "\(json.stdout)")
    }

    @Test(arguments: ["text", "json", "logfmt"])
    func aLineStartingWithAByteOrderMarkParses(format: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let line = format == "json" ? #"{"msg":"hello","level":"warn"}"# : format == "logfmt" ? "msg=hello level=warn" : "hello"
        var input = Data([0xEF, 0xBB, 0xBF])
        input.append(Data((line + "\n").utf8))
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", format, "--level", "warn"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let row = try #require(try SpoolFileProbe.entries(spool).first)
        #expect(row.message == "hello" && row.level == "warning" && row.context == nil, "\(row)")
    }

    @Test func logfmtQuotesEscapesFlagsAndBrokenLines() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = #"""
            msg="tab\tand \"quotes\" and ünïcode" level=error empty= flag path=/a=b
            msg="never closed level=info
            just words without pairs

            """#
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "logfmt"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        try #require(rows.count == 3)
        #expect(rows[0].message == "tab\tand \"quotes\" and ünïcode" && rows[0].level == "error")
        #expect(rows[0].context == #"{"empty":"","flag":true,"path":"/a=b"}"#)
        #expect(rows[1].message == #"msg="never closed level=info"#)
        #expect(rows[1].context?.hasPrefix(#"{"parse_error":"not logfmt: an unterminated quote at byte "#) == true, "\(rows[1].context ?? "")")
        #expect(rows[2].context?.contains("not logfmt: ") == true)
    }

    /// A line of any length is stored (cut, with its real length in the marker) while memory
    /// stays bounded: the child's peak resident set is read from /proc while it still runs.
    @Test(arguments: ["text", "json"])
    func aHugeLineIsStoredCutWithBoundedMemory(format: String) async throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let size = 64 * 1024 * 1024
        let child = try SpoolBinary.Running(["ingest", "--spool", spool, "--format", format])
        var line = Data(format == "json" ? #"{"msg":""#.utf8 : "".utf8)
        line.append(Data(repeating: UInt8(ascii: "x"), count: size - line.count))
        line.append(Data("\nafter\n".utf8))
        child.write(line)
        // stdin stays open: the child is still running once both lines are stored.
        let deadline = ContinuousClock.now + .seconds(60)
        var rows: [StoredRow] = []
        while rows.count < 2, ContinuousClock.now < deadline {
            rows = (try? SpoolFileProbe.entries(spool)) ?? []
            if rows.count < 2 { try await Task.sleep(for: .milliseconds(50)) }
        }
        let peak = try Self.peakResidentKiB(child.processIdentifier)
        let outcome = try child.finish()
        #expect(outcome.status == 0, "\(outcome.stderr)")
        try #require(rows.count == 2)
        #expect(rows[0].message.hasSuffix("…[truncated: \(size) bytes]"))
        #expect(rows[0].message.utf8.count <= SpoolStore.Configuration().maximumMessageBytes)
        #expect(rows[1].message == "after")
        if format == "json" { #expect(rows[0].context?.contains("more than the 1048576 bytes parsed") == true) }
        // About 30 MiB whatever the line's length; holding the line would take more than 64 MiB.
        #expect(peak < 48 * 1024, "peak RSS \(peak) KiB for a \(size)-byte line")
    }

    /// `VmHWM` of a running process, in KiB.
    static func peakResidentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }
}
