import Foundation

/// Reads a file descriptor as raw bytes and splits it into lines, so that bytes that are not
/// UTF-8 reach the parser (which replaces them with U+FFFD) instead of being dropped.
///
/// Each ``readLines(_:)`` call blocks only until *some* input is available, then hands over
/// every complete line that input holds: a slow producer (`tail -f | spool ingest`) gets each
/// line committed as soon as it arrives, a fast one gets large batches.
///
/// Memory is bounded whatever the input: a line longer than ``maximumLineBytes`` is kept up to
/// that many bytes, the rest is counted and discarded as it is read, and the line is delivered
/// with its full length (``Line/totalBytes``), so the parser can store it cut, with a marker that
/// says how long it was. A 300 MB line costs ``maximumLineBytes`` plus one read's chunk.
struct LineReader {
    /// Bytes asked for per `read(2)`.
    static let chunkSize = 256 * 1024
    /// The longest line kept whole: 1 MiB, four times the store's default message limit, so a
    /// JSON or logfmt line whose message is cut by the store still parses.
    static let maximumLineBytes = 1024 * 1024

    /// One line as read: its bytes (without `\n`, a trailing `\r` and a leading UTF-8 byte order
    /// mark), and how long it was.
    struct Line {
        /// The line, or its first ``LineReader/maximumLineBytes`` bytes when it was longer.
        var bytes: UnsafeBufferPointer<UInt8>
        /// The line's length in the input, before cutting.
        var totalBytes: Int
        /// Whether ``bytes`` holds only the start of the line.
        var isCut: Bool { totalBytes > bytes.count }
    }

    private let descriptor: Int32
    private let maximumLineBytes: Int
    /// Unconsumed input: at most one partial line (at most `maximumLineBytes`) between calls.
    private var pending: [UInt8] = []
    /// How much of `pending` is known to hold no newline, so a long line is scanned once.
    private var scanned = 0
    /// Bytes of the current line read past `maximumLineBytes` and discarded.
    private var discarded = 0
    private var chunk = [UInt8](repeating: 0, count: LineReader.chunkSize)
    private(set) var atEnd = false

    init(descriptor: Int32, maximumLineBytes: Int = LineReader.maximumLineBytes) {
        self.descriptor = descriptor
        self.maximumLineBytes = max(1, maximumLineBytes)
    }

    /// Waits for input, then calls `body` with each complete line in it. At the end of input, a
    /// last line without a newline is delivered too.
    /// - Returns: false once the input has ended.
    /// - Throws: the `read(2)` error, as a message.
    mutating func readLines(_ body: (Line) throws -> Void) throws -> Bool {
        guard !atEnd else { return false }
        let count = try readChunk()
        if count == 0 {
            atEnd = true
            if !pending.isEmpty || discarded > 0 {
                let extra = discarded
                try pending.withUnsafeBufferPointer { try body(Self.line($0, discarded: extra)) }
                pending.removeAll()
                discarded = 0
            }
            return false
        }
        try chunk.withUnsafeBufferPointer { input in
            try split(UnsafeBufferPointer(rebasing: input[0..<count]), body)
        }
        return true
    }

    /// Delivers the lines `input` completes and keeps the rest, bounded, in `pending`.
    private mutating func split(_ input: UnsafeBufferPointer<UInt8>, _ body: (Line) throws -> Void) throws {
        guard let base = input.baseAddress else { return }
        var start = 0
        while start < input.count {
            let found = memchr(base + start, 0x0A, input.count - start)
            let end = found.map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? input.count
            // Keep what still fits under the limit; count the rest.
            let room = max(0, maximumLineBytes - pending.count)
            let keep = min(room, end - start)
            if found == nil {
                pending.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<(start + keep)]))
                discarded += (end - start) - keep
                return
            }
            let extra = discarded + (end - start) - keep
            if pending.isEmpty {
                try body(Self.line(UnsafeBufferPointer(rebasing: input[start..<(start + keep)]), discarded: extra))
            } else {
                pending.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<(start + keep)]))
                try pending.withUnsafeBufferPointer { try body(Self.line($0, discarded: extra)) }
                pending.removeAll(keepingCapacity: pending.count <= Self.chunkSize)
            }
            discarded = 0
            start = end + 1
        }
    }

    private mutating func readChunk() throws -> Int {
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw ReadFailure(message: "cannot read standard input: \(String(cString: strerror(errno)))")
        }
    }

    /// The line without a leading byte order mark and a trailing CR (when it was read whole).
    private static func line(_ bytes: UnsafeBufferPointer<UInt8>, discarded: Int) -> Line {
        var line = bytes
        var total = bytes.count + discarded
        if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = UnsafeBufferPointer(rebasing: line[3...])
            total -= 3
        }
        if discarded == 0, let last = line.last, last == 0x0D {
            line = UnsafeBufferPointer(rebasing: line[..<(line.count - 1)])
            total -= 1
        }
        return Line(bytes: line, totalBytes: total)
    }

    struct ReadFailure: Error {
        var message: String
    }
}
