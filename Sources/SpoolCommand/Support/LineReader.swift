import Foundation

/// Reads a file descriptor as raw bytes and splits it into lines, so that bytes that are not
/// UTF-8 reach the parser (which replaces them with U+FFFD) instead of being dropped.
///
/// Each ``readLines(_:)`` call blocks only until *some* input is available, then hands over
/// every complete line that input holds: a slow producer (`tail -f | spool ingest`) gets each
/// line committed as soon as it arrives, a fast one gets large batches.
struct LineReader {
    /// Bytes asked for per `read(2)`.
    static let chunkSize = 256 * 1024

    private let descriptor: Int32
    /// Unconsumed input: at most one partial line between calls.
    private var pending: [UInt8] = []
    /// How much of `pending` is known to hold no newline, so a huge line is scanned once.
    private var scanned = 0
    private var chunk = [UInt8](repeating: 0, count: LineReader.chunkSize)
    private(set) var atEnd = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Waits for input, then calls `body` with each complete line in it (without its `\n` and
    /// a trailing `\r`). At the end of input, a last line without a newline is delivered too.
    /// - Returns: false once the input has ended.
    /// - Throws: the `read(2)` error, as a message.
    mutating func readLines(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Bool {
        guard !atEnd else { return false }
        let count = try readChunk()
        if count == 0 {
            atEnd = true
            if !pending.isEmpty {
                try pending.withUnsafeBufferPointer { try body(Self.trimmed($0)) }
                pending.removeAll()
            }
            return false
        }
        pending.append(contentsOf: chunk[0..<count])
        var consumed = 0
        try pending.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var start = scanned
            while start < buffer.count, let found = memchr(base + start, 0x0A, buffer.count - start) {
                let newline = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                try body(Self.trimmed(UnsafeBufferPointer(rebasing: buffer[consumed..<newline])))
                consumed = newline + 1
                start = consumed
            }
        }
        pending.removeFirst(consumed)
        scanned = pending.count
        return true
    }

    private mutating func readChunk() throws -> Int {
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw ReadFailure(message: "cannot read standard input: \(String(cString: strerror(errno)))")
        }
    }

    private static func trimmed(_ line: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard let last = line.last, last == 0x0D else { return line }
        return UnsafeBufferPointer(rebasing: line[..<(line.count - 1)])
    }

    struct ReadFailure: Error {
        var message: String
    }
}
