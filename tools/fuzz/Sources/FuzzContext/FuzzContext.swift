import Foundation
import FuzzSupport
import Logging
@testable import Spool
@testable import SpoolForwarding
import Synchronization

// Context decoding: JSON text to `JSONValue` (the parser behind ingest, `spool` flags and the
// stored context column), and swift-log metadata to context through `SpoolLogHandler`.
// Properties: a refusal is an `invalidInput` error naming the byte; what Foundation's
// JSONSerialization accepts as valid UTF-8 JSON within our depth bound, we accept too; writing
// a parsed value and parsing it again gives the same value (non-finite numbers, which JSON
// cannot hold, become their documented string names) and the same bytes; and an object logged
// as swift-log metadata arrives as the entry's context, every key present, redacted keys
// hidden at any depth. And Loki's structured metadata copied straight from a stored context
// (`LokiSink.writeStoredFormMetadata`) is, whenever the copy takes the text, byte for byte what
// the decoding path writes.

@main enum FuzzContext {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = input(data, count)
    checkStoredFormMetadata(bytes)
    let value: JSONValue
    do {
        value = try JSONValue(parsing: bytes)
    } catch {
        expectClear(error, code: .invalidInput)
        expect(error.message.hasPrefix("invalid JSON at byte "), "a refusal that does not say where: \(error.message)")
        expect(!foundationAccepts(bytes), "valid JSON refused: \(error.message)")
        return 0
    }
    let text = value.description
    let again: JSONValue
    do {
        again = try JSONValue(parsing: text)
    } catch {
        expect(false, "our own output \(text.debugDescription) refused: \(error.message)")
        return 0
    }
    expect(again == storable(value), "round trip changed \(value) into \(again)")
    expect(again.description == text, "writing is not stable: \(text) then \(again.description)")

    if case .object(let object) = value { checkSwiftLog(object) }
    return 0
}

/// What Foundation accepts, within our depth bound; invalid UTF-8 aside (we repair it).
func foundationAccepts(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard String(validating: bytes, as: UTF8.self) != nil else { return false }
    // Foundation skips a byte-order mark, which JSON (RFC 8259 §8.1) does not allow, and stops
    // at a NUL byte, ignoring what follows (found by this target: `3\0\0\0z7`).
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.contains(0) { return false }
    // It also accepts a trailing comma (`{"k":1,}`, found by this target), which JSON does not.
    var depth = 0, deepest = 0, inString = false, escaped = false, previous: UInt8 = 0
    for byte in bytes {
        if inString {
            if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
            continue
        }
        if byte == 0x22 {
            inString = true
        } else if byte == 0x5B || byte == 0x7B {
            depth += 1
            deepest = max(deepest, depth)
        } else if byte == 0x5D || byte == 0x7D {
            if previous == UInt8(ascii: ",") { return false }
            depth -= 1
        }
        if ![0x20, 0x09, 0x0A, 0x0D].contains(byte) { previous = byte }
    }
    guard deepest <= 200 else { return false }
    return (try? JSONSerialization.jsonObject(with: Data(buffer: bytes), options: [.fragmentsAllowed])) != nil
}

// MARK: - swift-log metadata

func metadata(_ value: JSONValue) -> Logger.MetadataValue {
    switch value {
    case .string(let text): .string(text)
    case .array(let elements): .array(elements.map(metadata))
    case .object(let object): .dictionary(object.mapValues(metadata))
    default: .stringConvertible(value)
    }
}

/// What metadata becomes: strings, arrays and objects as they are, anything else its description.
func context(_ value: JSONValue) -> JSONValue {
    switch value {
    case .string: value
    case .array(let elements): .array(elements.map(context))
    case .object(let object): .object(object.mapValues(context))
    default: .string(value.description)
    }
}

let captured = Mutex<LogEntry?>(nil)
let redaction = Redaction()
let pipeline: SpoolLogger = {
    var configuration = SpoolLogger.Configuration()
    configuration.redaction = redaction
    configuration.captureStack = false
    return SpoolLogger(topic: "fuzz", minimumLevel: .trace, handlers: [ClosureHandler { entry in captured.withLock { $0 = entry } }],
                       configuration: configuration)
}()
let logger = Logger(label: "fuzz.metadata") { label in SpoolLogHandler(label: label, logger: pipeline) }

func checkSwiftLog(_ object: [String: JSONValue]) {
    captured.withLock { $0 = nil }
    logger.info("fuzzed", metadata: object.mapValues(metadata))
    guard let entry = captured.withLock({ $0 }) else {
        expect(false, "nothing logged")
        return
    }
    let stored = entry.context ?? [:]
    var expected = redaction.redacting(object.mapValues(context))
    expected[SpoolLogHandler.originKey] = stored[SpoolLogHandler.originKey]
    expect(stored == expected, "metadata \(object) arrived as \(stored), expected \(expected)")
    expect(stored[SpoolLogHandler.originKey] != nil, "no origin")
    expectRedacted(.object(stored))
}

/// No value under a redacted key survives, at any depth.
func expectRedacted(_ value: JSONValue) {
    switch value {
    case .object(let object):
        for (key, child) in object {
            if redaction.matches(key) { expect(child == redaction.marker, "\(key) not redacted: \(child)") } else { expectRedacted(child) }
        }
    case .array(let elements): elements.forEach(expectRedacted)
    default: break
    }
}

// MARK: - Loki metadata from a stored context

let lokiSink = try! LokiSink(configuration: .init(url: "http://127.0.0.1:1"))

/// A stored context is a Swift `String`'s bytes, so valid UTF-8: only such input is tried.
/// The reader's UTF-8 check (`StoredText.isValidUTF8`) decides the same on every input.
func checkStoredFormMetadata(_ bytes: UnsafeBufferPointer<UInt8>) {
    let text = String(validating: bytes, as: UTF8.self)
    expect(StoredText.isValidUTF8(bytes) == (text != nil), "StoredText.isValidUTF8 disagrees on \(Array(bytes))")
    guard let text else { return }
    var copied = JSONWriter()
    var scratch = LokiSink.MetadataScratch()
    let taken = Array("billing".utf8).withUnsafeBufferPointer { topic in
        LokiSink.writeStoredFormMetadata(bytes, topic: topic, to: &copied, scratch: &scratch)
    }
    guard taken else { return }
    let entry = StoredEntry(id: 1, timestamp: 1, level: .info, topic: "billing", message: "m", contextJSON: text,
                            schema: LogEntry.currentSchema)
    var decoded = JSONWriter()
    if let metadata = lokiSink.metadataObject(for: entry) {
        decoded.append(byte: UInt8(ascii: ","))
        decoded.writeObject(metadata)
    }
    expect(copied.bytes == decoded.bytes,
           "metadata copied from \(text.debugDescription): \(String(decoding: copied.bytes, as: UTF8.self)), decoded: \(String(decoding: decoded.bytes, as: UTF8.self))")
}
