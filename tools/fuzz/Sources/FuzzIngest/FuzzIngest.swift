import FuzzSupport
@testable import Spool
@testable import SpoolForwarding

// The line parser of `spool ingest` (and `spool forward --stdin`): one line a producer wrote,
// hostile or broken, read as text, JSON and logfmt. `LineParser.swift` and the files it needs
// (field names, levels, logfmt, times, the line reader's `Line`) beside this file are links to
// the real files in Sources/SpoolCommand, compiled into this target: the parser lives in the
// `spool` executable, which no other package can import, and the links fuzz the very code that
// ships without widening Spool's public API.
//
// Properties, in every format: nothing is skipped but a blank line; every other line becomes an
// entry with a positive time, a topic and the current schema; a line that does not parse is
// stored raw: its reason is in the context's `parse_error` and says something.

struct FixedClock: WallClock {
    typealias Duration = Swift.Duration
    var now: UnixInstant { UnixInstant(nanoseconds: 1_718_452_800_123_456_789) }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: UnixInstant, tolerance: Duration?) async throws {}
}

let parsers = [LineParser.Format.text, .json, .logfmt].map {
    LineParser(format: $0, topic: "ingest", level: .info, clock: FixedClock())
}

@main enum FuzzIngest {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let buffer = input(data, count)
    do {
        // A line as the reader hands it over: no newline inside (the reader splits there).
        guard !buffer.contains(0x0A) else { return 0 }
        let line = LineReader.Line(bytes: buffer, totalBytes: buffer.count)
        let blank = buffer.allSatisfy { $0 == 0x20 || $0 == 0x09 }
        for parser in parsers {
            switch parser.parse(line) {
            case .blank:
                expect(blank, "\(parser.format): a line that is not blank skipped")
            case .parsed(let entry, let notes):
                expect(!blank, "\(parser.format): a blank line kept")
                check(entry, parser.format)
                expect(notes.allSatisfy { !$0.isEmpty }, "\(parser.format): an empty note")
            case .raw(let entry, let reason):
                expect(parser.format != .text, "text: a line stored raw")
                expect(!reason.isEmpty, "\(parser.format): a raw line without a reason")
                check(entry, parser.format)
                guard case .string(let stored)? = entry.context?[LineParser.parseErrorKey] else {
                    expect(false, "\(parser.format): a raw line without parse_error")
                    continue
                }
                expect(!stored.isEmpty, "\(parser.format): an empty parse_error")
            }
        }
    }
    return 0
}

func check(_ entry: LogEntry, _ format: LineParser.Format) {
    expect(entry.timestamp > 0, "\(format): a non-positive time \(entry.timestamp)")
    expect(!entry.topic.isEmpty, "\(format): an empty topic")
    expect(entry.schema == LogEntry.currentSchema, "\(format): schema \(entry.schema)")
}
