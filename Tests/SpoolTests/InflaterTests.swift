import NIOCore
import Testing
@testable import Spool
@testable import SpoolForwarding
@testable import SpoolCommand

/// The receiver's gzip reader: a corrupt body and one cut short are both refused, so the
/// receiver never counts what it could not read whole.
@Suite struct InflaterTests {
    let body = Array(String(repeating: "{\"line\":\"entry ü\"}\n", count: 2000).utf8)

    @Test func aWholeBodyInChunksInflatesCompletely() throws {
        let compressed = try gzipped(body)
        let inflater = Inflater()
        var output: [UInt8] = []
        for start in stride(from: 0, to: compressed.count, by: 97) {
            compressed[start..<min(compressed.count, start + 97)].withUnsafeBytes { inflater.inflate($0) { output += $0 } }
        }
        #expect(inflater.isComplete && output == body)
        // Two members back to back, the second in its own chunk.
        compressed.withUnsafeBytes { inflater.inflate($0) { output += $0 } }
        #expect(inflater.isComplete && output == body + body)
    }

    @Test func aBodyCutShortIsNotComplete() throws {
        let compressed = try gzipped(body)
        let inflater = Inflater()
        compressed.dropLast(12).withUnsafeBytes { inflater.inflate($0) { _ in } }
        #expect(!inflater.hasFailed && !inflater.isComplete)
    }

    @Test func aCorruptBodyFails() throws {
        var compressed = try gzipped(body)
        for index in 20..<40 { compressed[index] ^= 0xFF }
        let inflater = Inflater()
        compressed.withUnsafeBytes { inflater.inflate($0) { _ in } }
        #expect(inflater.hasFailed && !inflater.isComplete)
    }
}
