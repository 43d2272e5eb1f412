/// A JSON value: the shape of an entry's context.
///
/// Objects are dictionaries; they are written with their keys sorted, so the same context
/// always gives the same bytes. Non-finite doubles, which JSON cannot hold, are written as the
/// strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
public enum JSONValue: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A whole number, written without a fraction.
    case int(Int64)
    /// A number with a fraction, written in the shortest form that reads back the same.
    case double(Double)
    /// A string, written with JSON's escapes where needed.
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// An object, written with its keys sorted.
    case object([String: JSONValue])
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value):
            if value.isFinite { try container.encode(value) } else { try container.encode(JSON.nonFiniteName(value)) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

// MARK: - Text

extension JSONValue: CustomStringConvertible {
    /// The value as compact JSON text.
    public var description: String {
        var output = ""
        JSON.write(self, to: &output)
        return output
    }

    /// Parses JSON text. Numbers without a fraction or exponent that fit in 64 bits become
    /// ``int(_:)``; others ``double(_:)``. Invalid escapes and lone surrogates become U+FFFD.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/invalidInput`` and the byte offset.
    package init(parsing text: String) throws(SpoolError) {
        var text = text
        var result: Result<JSONValue, SpoolError> = .success(.null)
        text.withUTF8 { bytes in
            var parser = JSONParser(bytes: bytes)
            result = Result { () throws(SpoolError) in try parser.parseDocument() }
        }
        self = try result.get()
    }

    /// Parses JSON from UTF-8 bytes (invalid UTF-8 inside strings is replaced by U+FFFD).
    package init(parsing bytes: UnsafeBufferPointer<UInt8>) throws(SpoolError) {
        var parser = JSONParser(bytes: bytes)
        self = try parser.parseDocument()
    }
}
