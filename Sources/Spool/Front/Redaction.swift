/// Which context values a logger hides before any handler sees the entry.
///
/// A context key matches when it equals one of the redaction's keys ignoring case, at any depth (inside
/// nested objects and objects inside arrays); its whole value, whatever its shape, is replaced by
/// the redaction's marker. Redaction runs once per entry, before the first handler, so nothing unredacted is
/// stored, printed or sent. Only context is redacted: messages are text the caller wrote.
///
/// ```swift
/// var configuration = SpoolLogger.Configuration()
/// configuration.redaction.keys.append("session_id")
/// ```
public struct Redaction: Sendable, Hashable {
    /// The default keys: `password`, `passwd`, `secret`, `token`, `authorization`, `api_key`,
    /// `apikey`, `cookie`, `set-cookie`.
    public static let defaultKeys = [
        "password", "passwd", "secret", "token", "authorization", "api_key", "apikey", "cookie", "set-cookie",
    ]

    /// No redaction at all.
    public static let disabled = Redaction(keys: [])

    /// Keys whose values are hidden, compared ignoring case. Default ``defaultKeys``.
    package var keys: [String] {
        didSet { lowered = keys.map { $0.lowercased() } }
    }
    /// What a hidden value becomes. Default `"[REDACTED]"`.
    package var marker: JSONValue

    private var lowered: [String]

    /// Creates a redaction rule.
    /// - Parameters:
    ///   - keys: Keys to hide, compared ignoring case.
    ///   - marker: The value put in place of a hidden one.
    public init(keys: [String] = Redaction.defaultKeys, marker: JSONValue = "[REDACTED]") {
        self.keys = keys
        self.marker = marker
        self.lowered = keys.map { $0.lowercased() }
    }

    /// The context with every matching key's value replaced by ``marker``. A context without a
    /// match is returned as it is, without being copied.
    /// - Parameter context: An entry's context.
    package func redacting(_ context: [String: JSONValue]) -> [String: JSONValue] {
        var context = context
        redact(&context)
        return context
    }

    /// Applies the rule to an entry on its way to handlers or to the store: the one function
    /// every writer calls, so every path applies the same rule once. The logger calls it before
    /// its first handler; `spool ingest` and `spool forward --stdin` before appending.
    /// - Parameter entry: The entry; only its context changes.
    package func apply(to entry: inout LogEntry) {
        guard !lowered.isEmpty, entry.context != nil else { return }
        redact(&entry.context!)
    }

    /// Whether `key` is one of ``keys``, ignoring case; ASCII keys are compared without allocating.
    package func matches(_ key: String) -> Bool {
        let length = key.utf8.count
        for candidate in lowered where candidate.utf8.count == length {
            if Self.asciiCaseInsensitiveEqual(key, candidate) ?? (key.lowercased() == candidate) { return true }
        }
        return false
    }

    // MARK: - Walking the tree

    /// Redacts in place; returns whether anything changed, so unchanged parents are not rewritten.
    @discardableResult
    func redact(_ object: inout [String: JSONValue]) -> Bool {
        guard !lowered.isEmpty else { return false }
        var changed = false
        for (key, value) in object {
            if matches(key) {
                object[key] = marker
                changed = true
            } else if let replacement = redacted(value) {
                object[key] = replacement
                changed = true
            }
        }
        return changed
    }

    /// The value with matches inside it redacted, or nil when it holds none.
    private func redacted(_ value: JSONValue) -> JSONValue? {
        switch value {
        case .object(var inner):
            return redact(&inner) ? .object(inner) : nil
        case .array(var elements):
            var changed = false
            for index in elements.indices {
                if let replacement = redacted(elements[index]) {
                    elements[index] = replacement
                    changed = true
                }
            }
            return changed ? .array(elements) : nil
        default:
            return nil
        }
    }

    /// Byte-wise comparison folding ASCII letters; nil when either side is not ASCII.
    private static func asciiCaseInsensitiveEqual(_ key: String, _ lowered: String) -> Bool? {
        var other = lowered.utf8.makeIterator()
        for byte in key.utf8 {
            guard let expected = other.next(), byte < 0x80, expected < 0x80 else { return nil }
            let folded = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            if folded != expected { return false }
        }
        return true
    }

    public static func == (lhs: Redaction, rhs: Redaction) -> Bool {
        lhs.keys == rhs.keys && lhs.marker == rhs.marker
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(keys)
        hasher.combine(marker)
    }
}
