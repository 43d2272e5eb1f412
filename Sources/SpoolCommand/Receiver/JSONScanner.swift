/// A JSON grammar check over bytes that builds nothing (RFC 8259: literals, numbers, strings
/// with their escapes and no raw control characters, nesting bounded at 64), and the shape of
/// a Loki push.
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// One value and nothing after it.
    mutating func document() -> Bool {
        guard value(depth: 0) else { return false }
        skipWhitespace()
        return index == bytes.count
    }

    /// `{"streams":[{"stream":{…},"values":[[ts,line(,{…})],…]},…]}` with `ts` a decimal
    /// string and `line` a string; each value counted and its id taken.
    mutating func lokiPush(result: inout ReceivedBody, ids: EntryID) -> Bool {
        guard expect(UInt8(ascii: "{")), key("streams"), expect(UInt8(ascii: "[")) else { return false }
        if !peek(UInt8(ascii: "]")) {
            repeat {
                guard expect(UInt8(ascii: "{")), key("stream"), value(depth: 3), expect(UInt8(ascii: ",")), key("values"),
                      expect(UInt8(ascii: "[")) else { return false }
                if !peek(UInt8(ascii: "]")) {
                    repeat {
                        skipWhitespace()
                        let start = index
                        guard expect(UInt8(ascii: "[")), string(digitsOnly: true), expect(UInt8(ascii: ",")), string(digitsOnly: false) else { return false }
                        if peek(UInt8(ascii: ",")) {
                            guard expect(UInt8(ascii: ",")), value(depth: 5) else { return false }
                        }
                        guard expect(UInt8(ascii: "]")) else { return false }
                        result.entries += 1
                        if let id = ids.find(in: UnsafeBufferPointer(rebasing: bytes[start..<index])) { result.ids.append(id) }
                    } while next(UInt8(ascii: ","))
                }
                guard expect(UInt8(ascii: "]")), expect(UInt8(ascii: "}")) else { return false }
            } while next(UInt8(ascii: ","))
        }
        guard expect(UInt8(ascii: "]")), expect(UInt8(ascii: "}")) else { return false }
        skipWhitespace()
        return index == bytes.count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
    }

    private mutating func peek(_ byte: UInt8) -> Bool {
        skipWhitespace()
        return index < bytes.count && bytes[index] == byte
    }

    private mutating func expect(_ byte: UInt8) -> Bool {
        guard peek(byte) else { return false }
        index += 1
        return true
    }

    private mutating func next(_ byte: UInt8) -> Bool { expect(byte) }

    /// `"name":`.
    private mutating func key(_ name: StaticString) -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        let count = name.utf8CodeUnitCount
        guard index + count < bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != name.utf8Start[offset] { return false }
        index += count
        guard bytes[index] == UInt8(ascii: "\"") else { return false }
        index += 1
        return expect(UInt8(ascii: ":"))
    }

    private mutating func value(depth: Int) -> Bool {
        guard depth < 64 else { return false }
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string(digitsOnly: false)
        case UInt8(ascii: "{"):
            index += 1
            if peek(UInt8(ascii: "}")) { index += 1; return true }
            repeat {
                guard peek(UInt8(ascii: "\"")), string(digitsOnly: false), expect(UInt8(ascii: ":")), value(depth: depth + 1) else { return false }
            } while next(UInt8(ascii: ","))
            return expect(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            index += 1
            if peek(UInt8(ascii: "]")) { index += 1; return true }
            repeat {
                guard value(depth: depth + 1) else { return false }
            } while next(UInt8(ascii: ","))
            return expect(UInt8(ascii: "]"))
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func digits() -> Bool {
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        return index > start
    }

    private mutating func number() -> Bool {
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        if index < bytes.count, bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() else { return false }
        }
        return true
    }

    /// A string: escapes checked (`\u` with four hex digits), raw control characters refused.
    private mutating func string(digitsOnly: Bool) -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return !digitsOnly || index - 1 > start
            }
            if byte < 0x20 { return false }
            if digitsOnly, byte < 0x30 || byte > 0x39 { return false }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < bytes.count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard index + 4 < bytes.count else { return false }
                    for offset in 1...4 where !bytes[index + offset].isASCIIHexDigit { return false }
                    index += 5
                default:
                    return false
                }
                continue
            }
            index += 1
        }
        return false
    }
}

extension UInt8 {
    fileprivate var isASCIIHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}
