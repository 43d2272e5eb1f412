import Spool

extension LokiSink {
    /// The entry's structured metadata as a JSON object of strings, or nil when it has none.
    /// Names are sanitized like labels; the topic comes first and wins over a context key of
    /// the same name; past Loki's limits (128 entries, 64 KiB) further keys are left out.
    ///
    /// Appends `,` and the object, or nothing when the entry has none.
    func writeStructuredMetadata(for entry: StoredEntry, to output: inout JSONWriter) {
        var scratch = MetadataScratch()
        writeStructuredMetadata(for: entry, to: &output, scratch: &scratch)
    }

    func writeStructuredMetadata(for entry: StoredEntry, to output: inout JSONWriter, scratch: inout MetadataScratch) {
        if contextGoesInMetadata(entry) {
            if !writeContextMetadata(for: entry, to: &output, scratch: &scratch), let metadata = metadataObject(for: entry) {
                output.append(byte: UInt8(ascii: ","))
                output.writeObject(metadata)
            }
            return
        }
        // The common case, written directly: no dictionary per entry (9% of a drain's profile).
        guard configuration.topic == .structuredMetadata,
              entry.topicByteCount + 5 <= Self.maximumMetadataBytes else { return }
        output.append(",{\"topic\":")
        entry.withTopicUTF8 { output.writeString(utf8: $0) }
        output.append(byte: UInt8(ascii: "}"))
    }

    /// Reused between the entries of a batch: the metadata members found so far, and their
    /// values already written as JSON strings.
    struct MetadataScratch {
        struct Member {
            var key: String
            var name: String
            var value: Range<Int>
        }
        var members: [Member] = []
        var found: [(key: String, value: Range<Int>, size: Int)] = []
        var values = JSONWriter()
        /// The members of a context in the form Spool stores it (``writeStoredFormMetadata``).
        var stored: [StoredFormMember] = []
        /// The topic as a JSON string, for ``writeStoredFormMetadata``.
        var topic = JSONWriter()
    }

    /// The metadata of an entry whose context goes into it, written straight from the stored
    /// context text: the same object ``metadataObject(for:)`` makes (same names, same order,
    /// same limits), without decoding the context into `JSONValue`s. A context in the form Spool
    /// writes goes through ``writeStoredFormMetadata`` and is copied byte for byte; any other
    /// (keys to sanitize, nested values, numbers in another spelling) is parsed here. Returns
    /// false, having written nothing, when the stored context is not a JSON object with distinct
    /// keys (only possible when someone edited the file by hand): ``metadataObject(for:)``
    /// handles that.
    private func writeContextMetadata(for entry: StoredEntry, to output: inout JSONWriter, scratch: inout MetadataScratch) -> Bool {
        guard entry.hasContext else { return false }
        let withTopic = configuration.topic == .structuredMetadata
        let written = entry.withTopicUTF8 { topic in
            entry.withContextUTF8 { Self.writeStoredFormMetadata($0!, topic: withTopic ? topic : nil, to: &output, scratch: &scratch) }
        }
        if written { return true }
        // Not in the form Spool writes (edited by hand): parsed, through a `String`.
        guard var context = entry.contextJSON else { return false }
        scratch.members.removeAll(keepingCapacity: true)
        scratch.values.bytes.removeAll(keepingCapacity: true)
        scratch.found.removeAll(keepingCapacity: true)
        // The context's members, in document order; values written as JSON strings, sizes kept.
        let scanned = context.withUTF8 { bytes -> Bool in
            var parser = JSONParser(bytes: bytes)
            do {
                try parser.scanObject { key, value in
                    let start = scratch.values.count
                    let size: Int
                    switch value {
                    case .plainString(let text):
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.append(raw: text)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = text.count
                    case .decoded(.string(let text)):
                        scratch.values.writeString(text)
                        size = text.utf8.count
                    case .decoded(.int(let number)):
                        // What `description` spells, written without making it.
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.writeInt(number)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = scratch.values.count - start - 2
                    case .decoded(.double(let number)) where number.isFinite:
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        scratch.values.writeDouble(number)
                        scratch.values.append(byte: UInt8(ascii: "\""))
                        size = scratch.values.count - start - 2
                    case .decoded(let other):
                        let text = other.description
                        scratch.values.writeString(text)
                        size = text.utf8.count
                    }
                    scratch.found.append((key, start..<scratch.values.count, size))
                }
                return true
            } catch {
                return false
            }
        }
        guard scanned else { return false }
        scratch.found.sort { $0.key < $1.key }
        for index in scratch.found.indices.dropFirst() where scratch.found[index].key == scratch.found[index - 1].key { return false }

        var bytes = 0
        func add(key: String, name: String, value: Range<Int>, size: Int) {
            let size = name.utf8.count + size
            guard !scratch.members.contains(where: { $0.name == name }), scratch.members.count < Self.maximumMetadataEntries,
                  bytes + size <= Self.maximumMetadataBytes
            else { return }
            scratch.members.append(.init(key: key, name: name, value: value))
            bytes += size
        }
        if configuration.topic == .structuredMetadata {
            let start = scratch.values.count
            scratch.values.writeString(entry.topic)
            add(key: "topic", name: "topic", value: start..<scratch.values.count, size: entry.topic.utf8.count)
        }
        for member in scratch.found {
            add(key: member.key, name: Self.labelName(member.key), value: member.value, size: member.size)
        }
        guard !scratch.members.isEmpty else { return true }
        scratch.members.sort { $0.name < $1.name }
        output.append(",{")
        for (index, member) in scratch.members.enumerated() {
            if index > 0 { output.append(byte: UInt8(ascii: ",")) }
            output.writeString(member.name)
            output.append(byte: UInt8(ascii: ":"))
            scratch.values.bytes.withUnsafeBufferPointer { output.append(raw: UnsafeBufferPointer(rebasing: $0[member.value])) }
        }
        output.append(byte: UInt8(ascii: "}"))
        return true
    }

    private func contextGoesInMetadata(_ entry: StoredEntry) -> Bool {
        configuration.line == .message && configuration.contextInStructuredMetadata
            && entry.withContextUTF8 { $0.map { !$0.elementsEqual("{}".utf8) } ?? false }
    }

    /// Structured metadata with the context's keys: a dictionary, since names are sanitized
    /// and limits apply. Nil when nothing fits.
    func metadataObject(for entry: StoredEntry) -> [String: JSONValue]? {
        var metadata: [String: JSONValue] = [:]
        var bytes = 0
        func add(_ name: String, _ value: String) {
            let key = Self.labelName(name)
            let size = key.utf8.count + value.utf8.count
            guard metadata[key] == nil, metadata.count < Self.maximumMetadataEntries,
                  bytes + size <= Self.maximumMetadataBytes
            else { return }
            metadata[key] = .string(value)
            bytes += size
        }
        if configuration.topic == .structuredMetadata { add("topic", entry.topic) }
        if configuration.line == .message, configuration.contextInStructuredMetadata,
           let contextJSON = entry.contextJSON, contextJSON != "{}"
        {
            let context = entry.entry.context ?? [:]
            for key in context.keys.sorted() {
                switch context[key]! {
                case .string(let text): add(key, text)
                case let other: add(key, other.description)
                }
            }
        }
        return metadata.isEmpty ? nil : metadata
    }
}

// MARK: - Contexts in the form Spool stores them

extension LokiSink {
    /// A member of a stored context found by ``writeStoredFormMetadata``: where its key and
    /// value are in the text, and the value's size as Loki counts it (its decoded bytes).
    struct StoredFormMember {
        var key: Range<Int>
        /// The value's text: a JSON string with its quotes, or a number, `true`, `false` or `null`.
        var value: Range<Int>
        var isString: Bool
        var size: Int
        var accepted = false
    }

    /// Writes the structured metadata of a context stored in the form ``JSONWriter`` writes it,
    /// copying keys and values from the stored bytes: no `String`, no `JSONValue`, no sort.
    /// That form is one object, no whitespace, keys that are already label names in increasing
    /// order, and values that are strings with only the writer's escapes, integers, decimals
    /// spelled as Swift spells the `Double`, `true`, `false` or `null`. For such a context the
    /// bytes written are those of the decoding path (``metadataObject(for:)``, written by
    /// ``JSONWriter/writeObject(_:)``): same names, same values, same order, same limits.
    ///
    /// Returns false, having written nothing, for any other text; the caller parses it then.
    /// One scan and a copy took the metadata of a 50,000-entry drain (half of them with a
    /// context of 3-4 keys) from 318 M instructions to 75 M (BENCHMARKS.md, "Session 12").
    static func writeStoredFormMetadata(_ text: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>?, to output: inout JSONWriter,
                                        scratch: inout MetadataScratch) -> Bool {
        guard let base = text.baseAddress, text.count >= 2, base[0] == UInt8(ascii: "{"), base[text.count - 1] == UInt8(ascii: "}")
        else { return false }
        scratch.stored.removeAll(keepingCapacity: true)
        return writeStoredFormMetadata(base, count: text.count, topic: topic, to: &output, members: &scratch.stored,
                                       topicLiteral: &scratch.topic)
    }

    private static func writeStoredFormMetadata(_ base: UnsafePointer<UInt8>, count textCount: Int, topic: UnsafeBufferPointer<UInt8>?,
                                                to output: inout JSONWriter, members: inout [StoredFormMember],
                                                topicLiteral: inout JSONWriter) -> Bool {
        // Every scan below stops at the closing brace: `end` is its index.
        let end = textCount - 1
        var index = 1
        while true {
            guard let key = storedFormKey(base, at: index, end: end) else { return false }
            if let previous = members.last?.key, !precedes(previous, key, in: base) { return false }
            index = key.upperBound + 1
            guard index < end, base[index] == UInt8(ascii: ":") else { return false }
            index += 1
            guard index < end, let value = storedFormValue(base, at: index, end: end) else { return false }
            members.append(StoredFormMember(key: key, value: value.range, isString: value.isString, size: value.size))
            index = value.range.upperBound
            if index == end { break }
            guard base[index] == UInt8(ascii: ","), index + 1 < end else { return false }
            index += 1
        }

        // Which members Loki's limits let through, in the decoding path's order: the topic
        // first (it wins over a context key of the same name), then the keys in order.
        var count = 0, bytes = 0
        let topicBytes = topic.map { $0.count + 5 }
        let topicAccepted = topicBytes.map { $0 <= maximumMetadataBytes } ?? false
        if let topicBytes, topicAccepted { count = 1; bytes = topicBytes }
        for position in members.indices {
            let member = members[position]
            let size = member.key.count + member.size
            guard count < maximumMetadataEntries, bytes + size <= maximumMetadataBytes,
                  !(topicAccepted && equals(member.key, "topic", in: base))
            else { continue }
            members[position].accepted = true
            count += 1
            bytes += size
        }
        guard count > 0 else { return true }

        // Written in name order, the topic in its place among the keys, in one copy: `,{`, each
        // member with a comma before all but the first, `}`.
        topicLiteral.bytes.removeAll(keepingCapacity: true)
        if topicAccepted { topicLiteral.writeString(utf8: topic!) }
        var length = 2 + count
        if topicAccepted { length += 8 + topicLiteral.count }
        for member in members where member.accepted {
            length += member.key.count + 3 + member.value.count + (member.isString ? 0 : 2)
        }
        topicLiteral.bytes.withUnsafeBufferPointer { topicBytes in
            output.append(assembling: length) { cursor in
                cursor.put(",{")
                var first = true
                var topicPending = topicAccepted
                func putTopic() {
                    cursor.put(first ? "\"topic\":" : ",\"topic\":")
                    cursor.put(topicBytes)
                    first = false
                    topicPending = false
                }
                for member in members where member.accepted {
                    if topicPending, !precedes(member.key, "topic", in: base) { putTopic() }
                    cursor.put(first ? "\"" : ",\"")
                    first = false
                    cursor.put(UnsafeBufferPointer(start: base + member.key.lowerBound, count: member.key.count))
                    cursor.put("\":")
                    let value = UnsafeBufferPointer(start: base + member.value.lowerBound, count: member.value.count)
                    if member.isString {
                        cursor.put(value)
                    } else {
                        cursor.put(UInt8(ascii: "\""))
                        cursor.put(value)
                        cursor.put(UInt8(ascii: "\""))
                    }
                }
                if topicPending { putTopic() }
                cursor.put(UInt8(ascii: "}"))
            }
        }
        return true
    }

    /// The key starting with the quote at `index`, quotes excluded, when it is a label name as
    /// it stands (what ``labelName(_:)`` leaves unchanged).
    private static func storedFormKey(_ base: UnsafePointer<UInt8>, at index: Int, end: Int) -> Range<Int>? {
        guard index < end, base[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var cursor = start
        while cursor < end {
            switch base[cursor] {
            case UInt8(ascii: "\""):
                let length = cursor - start
                guard length > 0, length <= maximumLabelNameBytes,
                      !(base[start] >= UInt8(ascii: "0") && base[start] <= UInt8(ascii: "9")),
                      !(length > 1 && base[start] == UInt8(ascii: "_") && base[start + 1] == UInt8(ascii: "_"))
                else { return nil }
                return start..<cursor
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                cursor += 1
            default:
                return nil
            }
        }
        return nil
    }

    /// The value starting at `index`, if it is one of the stored form's, and its decoded size.
    private static func storedFormValue(_ base: UnsafePointer<UInt8>, at index: Int, end: Int)
        -> (range: Range<Int>, isString: Bool, size: Int)?
    {
        switch base[index] {
        case UInt8(ascii: "\""):
            // Only the escapes the writer makes with two characters; `\u` (a control character,
            // or another writer's spelling) goes to the decoding path.
            var cursor = index + 1
            var escapes = 0
            while cursor < end {
                let byte = base[cursor]
                if byte == UInt8(ascii: "\"") {
                    return (index..<(cursor + 1), true, cursor - index - 1 - escapes)
                }
                if byte < 0x20 { return nil }
                if byte == UInt8(ascii: "\\") {
                    guard cursor + 1 < end else { return nil }
                    switch base[cursor + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"),
                         UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "f"):
                        escapes += 1
                        cursor += 2
                        continue
                    default:
                        return nil
                    }
                }
                cursor += 1
            }
            return nil
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let word: StaticString = base[index] == UInt8(ascii: "t") ? "true" : base[index] == UInt8(ascii: "f") ? "false" : "null"
            let length = word.utf8CodeUnitCount
            guard index + length <= end, compare(base + index, word.utf8Start, length) == 0 else { return nil }
            return (index..<(index + length), false, length)
        default:
            guard let length = storedFormNumberLength(base, at: index, end: end) else { return nil }
            return (index..<(index + length), false, length)
        }
    }

    /// The length of the number at `index` when its text is what the decoding path would write
    /// for it: an integer of at most 18 digits (not `-0`), or a decimal that Swift's `Double`
    /// description spells the same way (at most 15 significant digits, so it names one `Double`;
    /// no trailing zero but in `.0`; below 10^15 and from 10^-4 up, where the description has no
    /// exponent). Anything else, exponents included, is nil.
    private static func storedFormNumberLength(_ base: UnsafePointer<UInt8>, at index: Int, end: Int) -> Int? {
        var cursor = index
        let negative = base[cursor] == UInt8(ascii: "-")
        if negative { cursor += 1 }
        func isDigit(_ position: Int) -> Bool {
            position < end && base[position] >= UInt8(ascii: "0") && base[position] <= UInt8(ascii: "9")
        }
        let integerStart = cursor
        while isDigit(cursor) { cursor += 1 }
        let integerDigits = cursor - integerStart
        guard integerDigits > 0, integerDigits == 1 || base[integerStart] != UInt8(ascii: "0") else { return nil }
        let integerIsZero = base[integerStart] == UInt8(ascii: "0")
        guard cursor < end, base[cursor] == UInt8(ascii: ".") else {
            // An integer: what `writeInt` writes back for it.
            guard integerDigits <= 18, !(negative && integerIsZero) else { return nil }
            return cursor - index
        }
        cursor += 1
        let fractionStart = cursor
        while isDigit(cursor) { cursor += 1 }
        let fractionDigits = cursor - fractionStart
        guard fractionDigits > 0, integerDigits <= 15 else { return nil }
        if cursor < end, base[cursor] == UInt8(ascii: "e") || base[cursor] == UInt8(ascii: "E") { return nil }
        if fractionDigits == 1, base[fractionStart] == UInt8(ascii: "0") { return cursor - index }
        guard base[cursor - 1] != UInt8(ascii: "0") else { return nil }
        var significant = integerDigits + fractionDigits
        if integerIsZero {
            var leadingZeros = 0
            while base[fractionStart + leadingZeros] == UInt8(ascii: "0") { leadingZeros += 1 }
            guard leadingZeros <= 3 else { return nil }
            significant = fractionDigits - leadingZeros
        }
        return significant <= 15 ? cursor - index : nil
    }

    /// Whether the key at `left` sorts before the one at `right` (bytes, as `String` orders
    /// ASCII).
    private static func precedes(_ left: Range<Int>, _ right: Range<Int>, in base: UnsafePointer<UInt8>) -> Bool {
        let common = min(left.count, right.count)
        let order = compare(base + left.lowerBound, base + right.lowerBound, common)
        return order != 0 ? order < 0 : left.count < right.count
    }

    private static func precedes(_ key: Range<Int>, _ name: StaticString, in base: UnsafePointer<UInt8>) -> Bool {
        let common = min(key.count, name.utf8CodeUnitCount)
        let order = compare(base + key.lowerBound, name.utf8Start, common)
        return order != 0 ? order < 0 : key.count < name.utf8CodeUnitCount
    }

    private static func equals(_ key: Range<Int>, _ name: StaticString, in base: UnsafePointer<UInt8>) -> Bool {
        key.count == name.utf8CodeUnitCount && compare(base + key.lowerBound, name.utf8Start, key.count) == 0
    }

    /// `memcmp` for the few bytes of a key: negative, zero or positive.
    private static func compare(_ left: UnsafePointer<UInt8>, _ right: UnsafePointer<UInt8>, _ count: Int) -> Int {
        for offset in 0..<count where left[offset] != right[offset] {
            return Int(left[offset]) - Int(right[offset])
        }
        return 0
    }
}
