/// What identifies an entry in its line: what the ``Receiver`` counts distinct entries by.
enum EntryID: Sendable {
    /// `seq=N`, `"seq":N`, `"seq":"N"` or, inside a JSON string, `\"seq\":N`: the lines of
    /// `spool bench`'s corpus and of its synthetic workload.
    case sequenceNumber
    /// `#N`, the first `#` of the line: the demo's sample app.
    case demoID

    /// The first id in raw text (a line, or a Loki value `[ts,line(,{…})]` whose `ts` holds
    /// digits only, so the first id is the line's).
    func find(in text: UnsafeBufferPointer<UInt8>) -> Int? {
        switch self {
        case .sequenceNumber: Self.sequenceNumber(in: text)
        case .demoID: text.firstIndex(of: UInt8(ascii: "#")).flatMap { Self.number(in: text, at: $0 + 1) }
        }
    }

    private static func sequenceNumber(in text: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = text.count
        var index = 0
        while index + 4 < count {
            defer { index += 1 }
            guard text[index] == UInt8(ascii: "s"), text[index + 1] == UInt8(ascii: "e"), text[index + 2] == UInt8(ascii: "q") else { continue }
            var digits = index + 3
            if text[digits] == UInt8(ascii: "=") {
                digits += 1
            } else {
                if text[digits] == UInt8(ascii: "\\") { digits += 1 }
                guard digits + 1 < count, text[digits] == UInt8(ascii: "\""), text[digits + 1] == UInt8(ascii: ":") else { continue }
                digits += 2
                if digits < count, text[digits] == UInt8(ascii: "\"") { digits += 1 }
            }
            if let value = number(in: text, at: digits) { return value }
        }
        return nil
    }

    /// The decimal number starting at `start`, nil when no digit is there.
    private static func number(in text: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        var index = start, value = 0
        while index < text.count, text[index] >= 0x30, text[index] <= 0x39, value < 1 << 40 {
            value = value * 10 + Int(text[index] - 0x30)
            index += 1
        }
        return index > start ? value : nil
    }
}
