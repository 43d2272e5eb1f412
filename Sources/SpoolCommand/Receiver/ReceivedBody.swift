/// What a body held, as the ``Receiver`` reads it.
struct ReceivedBody {
    var valid = true
    var entries = 0
    /// The id of every entry that has one.
    var ids: [Int] = []

    /// Parses a Loki push, or lines (JSON when they start with `{`): every byte is checked
    /// against JSON's grammar (``JSONScanner``), without building values, so that the receiver
    /// costs little next to the forwarder a benchmark measures.
    static func parse(_ bytes: [UInt8], loki: Bool, ids: EntryID) -> ReceivedBody {
        var result = ReceivedBody()
        bytes.withUnsafeBufferPointer { buffer in
            if loki {
                var scanner = JSONScanner(bytes: buffer)
                if !scanner.lokiPush(result: &result, ids: ids) { result.valid = false }
                return
            }
            var start = 0
            for index in 0...buffer.count where index == buffer.count || buffer[index] == UInt8(ascii: "\n") {
                defer { start = index + 1 }
                guard index > start else { continue }
                let line = UnsafeBufferPointer(rebasing: buffer[start..<index])
                result.entries += 1
                if line[0] == UInt8(ascii: "{") {
                    var scanner = JSONScanner(bytes: line)
                    guard scanner.document() else { result.valid = false; return }
                }
                if let id = ids.find(in: line) { result.ids.append(id) }
            }
        }
        return result
    }
}
