import FuzzSupport
import Spool

// The JSON line parser of `spool ingest` (and `spool forward --stdin`): one line a producer
// wrote, hostile or broken. `LineParser.swift` beside this file is a link to the real file in
// Sources/SpoolCommand/Ingest, compiled into this target: the parser lives in the `spool`
// executable, which no other package can import, and the link fuzzes the very code that ships
// without widening Spool's public API (an `@_spi` entry point would have meant moving the
// parser into the library for the fuzzer's sake alone).
//
// Properties: a blank line is skipped and only a blank line; a refused line gives a reason a
// person can read; a kept line has a positive time, a topic, and every field it did not map kept
// in the context; and the entry, written back as an ingest line, reads back as the same entry.

struct FixedClock: WallClock {
    typealias Duration = Swift.Duration
    var now: UnixInstant { UnixInstant(nanoseconds: 1_718_452_800_123_456_789) }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: UnixInstant, tolerance: Duration?) async throws {}
}

let parser = LineParser(format: .json, topic: "ingest", level: .info, clock: FixedClock())

@main enum FuzzIngest {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let line = input(data, count)
    let blank = line.allSatisfy { $0 == 0x20 || $0 == 0x09 }
    let entry: LogEntry?
    do {
        entry = try parser.entry(from: line, warn: { expect(!$0.isEmpty, "an empty warning") })
    } catch {
        expect(!error.reason.isEmpty, "a refusal without a reason")
        expect(!blank, "a blank line refused: \(error.reason)")
        return 0
    }
    guard let entry else {
        expect(blank, "a non-blank line skipped")
        return 0
    }
    expect(!blank, "a blank line kept")
    expect(entry.timestamp > 0, "a non-positive time \(entry.timestamp)")
    expect(!entry.topic.isEmpty, "an empty topic")
    expect(entry.schema == LogEntry.currentSchema, "schema \(entry.schema)")

    // Every field but the five mapped ones is kept in the context.
    if case .object(let object)? = try? JSONValue(parsing: line) {
        for key in object.keys where !["message", "level", "topic", "timestamp", "context"].contains(key) {
            expect(entry.context?[key] != nil, "field \(key.debugDescription) lost")
        }
    }

    // Written back as an ingest line, it reads back as the same entry. A time below 1e17 ns
    // (before 1973-03-03) would be read as a coarser unit (docs: UnixTime), so it is left out and
    // the clock's "now" is expected instead.
    var fields: [String: JSONValue] = ["message": .string(entry.message), "level": .string(entry.level.rawValue), "topic": .string(entry.topic)]
    if let context = entry.context { fields["context"] = .object(context) }
    var expected = entry
    // Non-finite numbers (`1e999`) are stored as their string names: so they read back.
    expected.context = entry.context.map { $0.mapValues(storable) }
    if entry.timestamp >= 100_000_000_000_000_000 {
        fields["timestamp"] = .int(entry.timestamp)
    } else {
        expected.timestamp = FixedClock().now.nanoseconds
    }
    let text = JSONValue.object(fields).description
    let again = text.utf8CString.withUnsafeBufferPointer { characters in
        characters.withMemoryRebound(to: UInt8.self) { bytes in
            try? parser.entry(from: UnsafeBufferPointer(rebasing: bytes.dropLast()), warn: { _ in })
        }
    }
    expect(again == expected, "round trip of \(text) gave \(String(describing: again)), expected \(expected)")
    return 0
}
