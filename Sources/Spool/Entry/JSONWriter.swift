/// The one JSON writer of the project: appends JSON to a byte array. Every request body, every
/// stored context and every `--json` line is written through it.
///
/// Strings are escaped in one scan, eight bytes at a time between escapes: only
/// `"`, `\` and the control characters below U+0020 are escaped, as RFC 8259 requires; every
/// other byte, non-ASCII included, is copied as it is. A Swift `String` is always valid UTF-8
/// (invalid input was replaced by U+FFFD when it became one), so the output is valid UTF-8 too.
///
/// Per entry it allocates nothing but the array's own growth (a string with escapes passes
/// through a 1 KiB buffer on the stack, and so does `append(assembling:)` up to 1 KiB; beyond,
/// its buffer comes from the heap): give `init(capacity:)` a generous guess and a batch is
/// written in one allocation.
package struct JSONWriter {
    /// The JSON written so far.
    package var bytes: [UInt8]

    package init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable
    package var count: Int { bytes.count }

    // MARK: - Raw bytes

    /// Appends ASCII text as it is (punctuation, keys known not to need escaping).
    @inlinable @inline(__always)
    package mutating func append(_ literal: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inlinable @inline(__always)
    package mutating func append(byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends text that is already JSON (a stored context) or needs no escaping, as it is.
    package mutating func append(raw text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    @inlinable
    package mutating func append(raw utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: utf8)
    }

    /// Appends `count` bytes that `fill` writes, from its first argument on, with a
    /// ``ByteCursor``: output made of many small pieces (a Loki entry's metadata) goes into the
    /// array in one copy, from a buffer on the stack up to 1 KiB. `fill` must write exactly
    /// `count` bytes.
    package mutating func append(assembling count: Int, _ fill: (inout ByteCursor) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            var cursor = ByteCursor(buffer.baseAddress!, end: buffer.baseAddress! + count)
            fill(&cursor)
            precondition(cursor.position == cursor.end, "append(assembling:) wrote fewer bytes than announced")
            bytes.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// Writes bytes one piece after the other into a buffer of ``append(assembling:_:)``;
    /// a piece that would pass the announced end stops the program rather than write past it.
    package struct ByteCursor {
        package private(set) var position: UnsafeMutablePointer<UInt8>
        package let end: UnsafeMutablePointer<UInt8>

        init(_ start: UnsafeMutablePointer<UInt8>, end: UnsafeMutablePointer<UInt8>) {
            position = start
            self.end = end
        }

        @inlinable @inline(__always)
        package mutating func put(_ byte: UInt8) {
            precondition(position < end, "append(assembling:) wrote more bytes than announced")
            position.initialize(to: byte)
            position += 1
        }

        @inlinable @inline(__always)
        package mutating func put(_ literal: StaticString) {
            precondition(end - position >= literal.utf8CodeUnitCount, "append(assembling:) wrote more bytes than announced")
            position.initialize(from: literal.utf8Start, count: literal.utf8CodeUnitCount)
            position += literal.utf8CodeUnitCount
        }

        @inlinable @inline(__always)
        package mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
            guard let base = bytes.baseAddress else { return }
            precondition(end - position >= bytes.count, "append(assembling:) wrote more bytes than announced")
            position.initialize(from: base, count: bytes.count)
            position += bytes.count
        }
    }

    // MARK: - Values

    /// Appends a JSON string literal: quotes, backslashes and control characters escaped.
    package mutating func writeString(_ text: String) {
        var text = text
        // A native string is contiguous already; `withUTF8` only copies a bridged one.
        text.withUTF8 { writeString(utf8: $0) }
    }

    /// Appends valid UTF-8 `utf8` as a JSON string literal.
    ///
    /// A string with nothing to escape is appended in one copy. One with escapes (a JSON or
    /// logfmt line has dozens of quotes) is written through a 1 KiB buffer on the stack and
    /// appended a kilobyte at a time; appending each run and each escape on its own made Loki
    /// bodies cost 10 % more CPU (BENCHMARKS.md, "Session 10"). From its first escape on, the
    /// string is copied a word (eight bytes) at a time: a word with something to escape is
    /// copied up to it, the escape written, and the next word read just after it, so only the
    /// last seven bytes or fewer are looked at alone and no run needs a `memcpy` of its own
    /// (BENCHMARKS.md, "Session 12").
    package mutating func writeString(utf8: UnsafeBufferPointer<UInt8>) {
        guard let base = utf8.baseAddress, !utf8.isEmpty else {
            append("\"\"")
            return
        }
        let count = utf8.count
        let clean = Self.cleanPrefix(base, from: 0, count: count)
        if clean == count {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        bytes.append(UInt8(ascii: "\""))
        // The clean prefix in one copy, then the rest through the buffer.
        bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: clean))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.chunkBytes) { buffer in
            let out = buffer.baseAddress!
            var written = 0
            var index = clean
            while index < count {
                // A step writes at most 13 bytes (8, or 7 and a six-byte `\u00XX`), leaving room
                // for the closing quote.
                if written + 16 > Self.chunkBytes {
                    bytes.append(contentsOf: UnsafeBufferPointer(start: out, count: written))
                    written = 0
                }
                guard index + 8 <= count else {
                    let byte = base[index]
                    if byte < 0x20 || byte == 0x22 || byte == 0x5C {
                        written += Self.writeEscape(of: byte, to: out + written)
                    } else {
                        out[written] = byte
                        written += 1
                    }
                    index += 1
                    continue
                }
                // Copy the word; keep the bytes before its first escape, if it has one.
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                UnsafeMutableRawPointer(out + written).storeBytes(of: word.littleEndian, as: UInt64.self)
                let escapes = Self.escapeMask(word)
                if escapes == 0 {
                    written += 8
                    index += 8
                } else {
                    let run = escapes.trailingZeroBitCount >> 3
                    written += run
                    index += run
                    written += Self.writeEscape(of: base[index], to: out + written)
                    index += 1
                }
            }
            out[written] = UInt8(ascii: "\"")
            bytes.append(contentsOf: UnsafeBufferPointer(start: out, count: written + 1))
        }
    }

    /// The stack buffer of ``writeString(utf8:)``: `withUnsafeTemporaryAllocation` stays on the
    /// stack up to 1 KiB.
    static let chunkBytes = 1024

    /// The index of the first byte at or after `start` that needs an escape, or `count`.
    @inline(__always)
    private static func cleanPrefix(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var index = start
        // Eight bytes at a time while none of them needs an escape.
        while index + 8 <= count, !mayNeedEscape(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
            index += 8
        }
        while index < count {
            let byte = base[index]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return index }
            index += 1
        }
        return count
    }

    /// Writes the escape of `byte` (a quote, a backslash or a control character) at `out`;
    /// returns how many bytes it took.
    @inline(__always)
    private static func writeEscape(of byte: UInt8, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let short: UInt8
        switch byte {
        case 0x22: short = UInt8(ascii: "\"")
        case 0x5C: short = UInt8(ascii: "\\")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        default:
            out[0] = UInt8(ascii: "\\")
            out[1] = UInt8(ascii: "u")
            out[2] = UInt8(ascii: "0")
            out[3] = UInt8(ascii: "0")
            out[4] = hexDigit(byte >> 4)
            out[5] = hexDigit(byte & 0xF)
            return 6
        }
        out[0] = UInt8(ascii: "\\")
        out[1] = short
        return 2
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// Whether any of the eight bytes of `word` is below 0x20, `"` or `\\`. Exact for "none":
    /// a false answer means no byte needs an escape.
    @inline(__always)
    static func mayNeedEscape(_ word: UInt64) -> Bool {
        escapeMask(word) != 0
    }

    /// The high bit of each byte of `word` (first byte lowest) that may need an escape, by the
    /// classic SWAR tests (a byte below n, a byte equal to c). A borrow can flag a byte above
    /// one that matched, never below, so the lowest bit set is always a byte to escape, and
    /// zero means none.
    @inline(__always)
    static func escapeMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word & highs
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let hasQuote = (quote &- ones) & ~quote & highs
        let hasBackslash = (backslash &- ones) & ~backslash & highs
        return control | hasQuote | hasBackslash
    }

    /// Appends an integer in decimal, without making a `String`: two digits per division (a
    /// timestamp has 19), read from a table of the hundred pairs. `prefix` and `suffix` (ASCII
    /// punctuation, such as a Loki value's `["` and `",`) go out in the same copy.
    package mutating func writeInt(_ number: Int64, prefix: StaticString = "", suffix: StaticString = "") {
        // 20 digits and a sign hold any Int64.
        let capacity = prefix.utf8CodeUnitCount + 21 + suffix.utf8CodeUnitCount
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            let digits = buffer.baseAddress!
            let end = capacity - suffix.utf8CodeUnitCount
            (digits + end).initialize(from: suffix.utf8Start, count: suffix.utf8CodeUnitCount)
            let pairs = Self.digitPairs.utf8Start
            var magnitude = number.magnitude
            var start = end
            while magnitude >= 10 {
                let pair = Int(truncatingIfNeeded: magnitude % 100) &* 2
                magnitude /= 100
                start -= 2
                digits[start] = pairs[pair]
                digits[start + 1] = pairs[pair + 1]
            }
            // The first digit of a number with an odd count of them, or the zero of 0.
            if magnitude > 0 || start == end {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude)
            }
            if number < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            start -= prefix.utf8CodeUnitCount
            (digits + start).initialize(from: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
            bytes.append(contentsOf: UnsafeBufferPointer(start: digits + start, count: capacity - start))
        }
    }

    private static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// Appends a double: Swift's shortest round-trip form ("3.0", "1e-05", "1e+16"), which is
    /// valid JSON; NaN and the infinities, which JSON cannot hold, as the strings `"NaN"`,
    /// `"Infinity"` and `"-Infinity"`.
    package mutating func writeDouble(_ number: Double) {
        if number.isFinite {
            append(raw: number.description)
        } else {
            writeString(JSON.nonFiniteName(number))
        }
    }

    /// Appends `value` as compact JSON, object keys sorted.
    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let flag): flag ? append("true") : append("false")
        case .int(let number): writeInt(number)
        case .double(let number): writeDouble(number)
        case .string(let text): writeString(text)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object): writeObject(object)
        }
    }

    /// Appends an object with its keys sorted, so one object always has one spelling.
    package mutating func writeObject(_ object: [String: JSONValue]) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        // Sorting the pairs, not the keys, spares a hash lookup per key.
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            writeString(key)
            bytes.append(UInt8(ascii: ":"))
            write(value)
        }
        bytes.append(UInt8(ascii: "}"))
    }
}
