/// Which context values a logger hides before any handler sees the entry.
///
/// A context key matches when one of the redaction's keys is one of its words, or several
/// words in a row, ignoring case: the words of a key are what `_`, `-`, `.`, spaces, a change
/// from lower to upper case (`accessToken`) or between letters and digits separate. So
/// `password` hides `password`, `db_password`, `DB-Password` and `passwordHash` but not
/// `passwordless`; `apikey` hides `api_key`, `X-Api-Key` and `apiKey`; `token` hides
/// `access_token` and `authToken` but not `prompt_tokens`. At any depth (inside nested objects
/// and objects inside arrays), the whole value, whatever its shape, is replaced by the
/// redaction's marker. Redaction runs once per entry, before the first handler, so nothing
/// unredacted is stored, printed or sent. Only context is redacted: messages are text the caller
/// wrote.
///
/// ```swift
/// var configuration = SpoolLogger.Configuration()
/// configuration.redaction.keys.append("session_id")
/// ```
public struct Redaction: Sendable, Hashable {
    /// The default keys: `password`, `passwd`, `passphrase`, `secret`, `token`, `auth`,
    /// `authorization`, `apikey`, `privatekey`, `credential`, `credentials`, `cookie`, `cookies`.
    public static let defaultKeys = [
        "password", "passwd", "passphrase", "secret", "token", "auth", "authorization", "apikey", "privatekey",
        "credential", "credentials", "cookie", "cookies",
    ]

    /// No redaction at all.
    public static let disabled = Redaction(keys: [])

    /// Keys whose values are hidden, matched by words and ignoring case (see ``Redaction``).
    /// Default ``defaultKeys``.
    package var keys: [String] {
        didSet { stems = Self.stems(of: keys) }
    }
    /// What a hidden value becomes. Default `"[REDACTED]"`.
    package var marker: JSONValue

    /// The keys as matched: lowercased, without separators; empty ones left out.
    private var stems: [[UInt8]]

    /// Creates a redaction rule.
    /// - Parameters:
    ///   - keys: Keys to hide, matched by words and ignoring case (see ``Redaction``).
    ///   - marker: The value put in place of a hidden one.
    public init(keys: [String] = Redaction.defaultKeys, marker: JSONValue = "[REDACTED]") {
        self.keys = keys
        self.marker = marker
        self.stems = Self.stems(of: keys)
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
        guard !stems.isEmpty, entry.context != nil else { return }
        redact(&entry.context!)
    }

    /// Whether one of ``keys`` is one or more consecutive words of `key` (see ``Redaction``).
    /// An ASCII key is read in place, without allocating.
    package func matches(_ key: String) -> Bool {
        guard !stems.isEmpty else { return false }
        if let found = key.utf8.withContiguousStorageIfAvailable({ bytes -> Bool? in
            bytes.allSatisfy { $0 < 0x80 } ? Self.matches(bytes, stems: stems) : nil
        }), let found {
            return found
        }
        // Not ASCII (or not contiguous): lowercased first, so other scripts' cases fold too.
        let lowered = Array(key.lowercased().utf8)
        return lowered.withUnsafeBufferPointer { Self.matches($0, stems: stems) }
    }

    // MARK: - Words

    /// `_`, `-`, `.` and space: what separates words and is left out of a stem.
    @inline(__always)
    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == 0x5F || byte == 0x2D || byte == 0x2E || byte == 0x20
    }

    private static func stems(of keys: [String]) -> [[UInt8]] {
        keys.map { Array($0.lowercased().utf8.filter { !isSeparator($0) }) }.filter { !$0.isEmpty }
    }

    /// Whether a word begins at `index` of `key` (0 < index < count), in the original case.
    @inline(__always)
    private static func isBoundary(_ key: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        let before = key[index - 1], here = key[index]
        if isSeparator(before) || isSeparator(here) { return true }
        let upper = { (byte: UInt8) in byte >= 0x41 && byte <= 0x5A }
        let lower = { (byte: UInt8) in byte >= 0x61 && byte <= 0x7A }
        let digit = { (byte: UInt8) in byte >= 0x30 && byte <= 0x39 }
        if upper(here) && (lower(before) || digit(before)) { return true }  // accessToken, oauth2Token
        if digit(here) != digit(before) && (digit(here) ? lower(before) || upper(before) : lower(here) || upper(here)) {
            return true  // token2, 2fa
        }
        // An acronym before a word: the last capital starts it (APIKey: API, Key).
        return upper(before) && upper(here) && index + 1 < key.count && lower(key[index + 1])
    }

    /// Whether a stem matches whole words of `key`, starting at a word's start and ending at a
    /// word's end; separators inside the match are skipped (`api-key` is `apikey`).
    private static func matches(_ key: UnsafeBufferPointer<UInt8>, stems: [[UInt8]]) -> Bool {
        let count = key.count
        for start in 0..<count where !isSeparator(key[start]) && (start == 0 || isBoundary(key, start)) {
            let first = key[start] | (key[start] >= 0x41 && key[start] <= 0x5A ? 0x20 : 0)
            stems: for stem in stems where stem[0] == first {
                var index = start
                for expected in stem {
                    while index < count && isSeparator(key[index]) { index += 1 }
                    guard index < count else { continue stems }
                    let byte = key[index]
                    guard (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) == expected else { continue stems }
                    index += 1
                }
                if index == count || isBoundary(key, index) { return true }
            }
        }
        return false
    }

    // MARK: - Walking the tree

    /// Redacts in place; returns whether anything changed, so unchanged parents are not rewritten.
    @discardableResult
    func redact(_ object: inout [String: JSONValue]) -> Bool {
        guard !stems.isEmpty else { return false }
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

    public static func == (lhs: Redaction, rhs: Redaction) -> Bool {
        lhs.keys == rhs.keys && lhs.marker == rhs.marker
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(keys)
        hasher.combine(marker)
    }
}
