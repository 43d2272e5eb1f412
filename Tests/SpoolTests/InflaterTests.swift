import NIOCore
import Testing
@testable import Spool
@testable import SpoolForwarding
@testable import SpoolCommand

/// The receiver's gzip reader: a corrupt body, one cut short and one too large are all
/// refused, so the receiver never counts what it could not read whole.
@Suite struct InflaterTests {
    let body = Array(String(repeating: "{\"line\":\"entry ü\"}\n", count: 2000).utf8)

    func inflate(_ compressed: [UInt8], limit: Int = 1 << 20) -> Result<[UInt8], Inflater.Failure> {
        Inflater.inflate(compressed, limit: limit)
    }

    /// Whether two byte arrays are equal (a failed expectation prints this, not the arrays).
    func same(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }

    /// What `inflate` gave, short enough for a failed expectation to print.
    func outcome(_ result: Result<[UInt8], Inflater.Failure>) -> String {
        switch result {
        case .success(let bytes): "\(bytes.count) bytes"
        case .failure(let failure): "\(failure)"
        }
    }

    @Test func aWholeBodyInChunksInflatesCompletely() throws {
        let compressed = try gzipped(body)
        #expect(same(try inflate(compressed).get(), body))
        // Two members back to back.
        #expect(same(try inflate(compressed + compressed).get(), body + body))
        // A member whose size is not what the last member's trailer says: the output grows.
        let small = try gzipped(Array("{\"line\":1}\n".utf8))
        #expect(same(try inflate(compressed + small).get(), body + Array("{\"line\":1}\n".utf8)))
    }

    /// Written by another encoder (Python's `gzip`, that is zlib, level 9, no file name), so the
    /// reader is not only checked against the transport's own libdeflate output.
    @Test func aBodyFromZlibInflates() throws {
        let fromZlib: [UInt8] = [
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xca, 0xc9, 0xcc, 0x4b, 0x55, 0xb2,
            0x52, 0x4a, 0xcd, 0x2b, 0x29, 0xaa, 0x54, 0x38, 0xbc, 0x47, 0xa9, 0x96, 0xab, 0x9a, 0x48, 0x31, 0x00, 0x77,
            0x4b, 0x39, 0xa6, 0x3c, 0x00, 0x00, 0x00,
        ]
        #expect(same(try inflate(fromZlib).get(), Array(String(repeating: "{\"line\":\"entry ü\"}\n", count: 3).utf8)))
    }

    @Test func aBodyCutShortIsInvalid() throws {
        let compressed = try gzipped(body)
        #expect(outcome(inflate(Array(compressed.dropLast(12)))) == "invalid")
        // A whole member followed by the start of another.
        #expect(outcome(inflate(compressed + compressed.prefix(30))) == "invalid")
        #expect(outcome(inflate([])) == "invalid")
    }

    @Test func aCorruptBodyIsInvalid() throws {
        var compressed = try gzipped(body)
        for index in 20..<40 { compressed[index] ^= 0xFF }
        #expect(outcome(inflate(compressed)) == "invalid")
        #expect(outcome(inflate(Array(body))) == "invalid")  // not gzip at all
    }

    @Test func aBodyAboveTheLimitOnceInflatedIsRefused() throws {
        let compressed = try gzipped(body)
        #expect(same(try inflate(compressed, limit: body.count).get(), body))
        // One byte over: the bound against decompression bombs.
        #expect(outcome(inflate(compressed, limit: body.count - 1)) == "tooLarge")
        // Reached while the output grows (three members, a limit that is no power of two).
        let three = compressed + compressed + compressed
        #expect(same(try inflate(three, limit: 3 * body.count).get(), body + body + body))
        #expect(outcome(inflate(three, limit: 3 * body.count - 1)) == "tooLarge")
        // Incompressible bytes inflate to fewer than were sent.
        var random = SystemRandomNumberGenerator()
        let noise = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let sent = try gzipped(noise)
        #expect(sent.count > noise.count)
        #expect(same(try inflate(sent, limit: noise.count).get(), noise))
        #expect(outcome(inflate(sent, limit: noise.count - 1)) == "tooLarge")
    }

    /// The trailer's size is the sender's word: a short body claiming 2 GiB gets no 2 GiB buffer,
    /// and is refused as what it is.
    @Test func aTrailerClaimingAHugeSizeIsNotBelieved() {
        var lying: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0x00, 0, 0, 0, 0]
        lying += [0x00, 0x00, 0x00, 0x80]  // ISIZE 2^31
        #expect(outcome(inflate(lying, limit: 64 << 20)) == "invalid")
    }
}
