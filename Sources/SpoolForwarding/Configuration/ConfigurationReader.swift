import Foundation
import Spool
import Yams

/// Walks a composed YAML tree by hand, so that every problem is reported with its key path and
/// line, and every key the schema does not know is refused.
///
/// Problems are collected, not thrown, so one load reports all of them (up to
/// ``maximumIssues``). Values are never echoed for keys that may hold secrets. Not `Sendable`:
/// one reader lives for one load, on one thread.
final class ConfigurationReader {
    /// A problem at a key path and line.
    struct Issue: Sendable, Hashable {
        var path: String
        var line: Int?
        var message: String

        /// `sinks.loki.batch_size: line 12: expected a positive integer, got "ten"`.
        ///
        /// One line, whatever the file held: a key may be a quoted YAML string with line breaks
        /// or other control characters in it (`"a\nb": 1`), and it is named in the path and in
        /// "unknown key"; such characters are written as escapes (`\n`). Found by the
        /// configuration fuzz target: an error whose lines were not one problem each.
        var text: String {
            var text = path.isEmpty ? "" : "\(path): "
            if let line { text += "line \(line): " }
            return ConfigurationReader.oneLine(text + message)
        }
    }

    /// More problems than this are summarised as one line: a broken file should not flood.
    static let maximumIssues = 20
    private(set) var issues: [Issue] = []
    /// Where `${VAR}` in values is looked up.
    let environment: [String: String]

    init(environment: [String: String]) {
        self.environment = environment
    }

    /// Records a problem with `node`'s line.
    func fail(_ path: String, _ node: Node?, _ message: String) {
        issues.append(Issue(path: path, line: node?.mark?.line, message: message))
    }

    /// Records a problem at an explicit line.
    func fail(_ path: String, line: Int?, _ message: String) {
        issues.append(Issue(path: path, line: line, message: message))
    }

    // MARK: - Mappings

    /// A mapping's values by key, in the order written, with every unknown key refused.
    ///
    /// A key that names a secret (`password`, `token`…) is refused with a pointer to the
    /// environment-variable form instead, and its value is not looked at.
    /// - Parameter hidingText: Where a secret is likely (under `credentials`): text written
    ///   instead of the mapping is not repeated in the error.
    /// - Returns: nil (reported) when the node is not a mapping.
    func mapping(_ node: Node, at path: String, known: [String], hidingText: Bool = false) -> OrderedPairs? {
        guard refuseAnchor(node, at: path) else { return nil }
        guard case .mapping(let mapping) = node else {
            fail(path, node, "expected a mapping of keys to values, got \(describe(node, hidingText: hidingText))")
            return nil
        }
        var pairs = OrderedPairs()
        for (keyNode, value) in mapping {
            guard let key = key(keyNode, in: path) else { continue }
            let keyPath = join(path, key)
            if known.contains(key) {
                pairs.append(key, value)
            } else if let hint = InlineSecret.hint(forKey: key, known: known) {
                fail(keyPath, keyNode, "a secret cannot be written in the file (its value is not shown here); \(hint)")
            } else if hidingText {
                // Where secrets live, a stray key may be the secret itself (`bearer: {sk_live_…}`).
                fail(path, keyNode, "an unknown key (not shown here: it may be a secret); expected one of: \(known.joined(separator: ", "))")
            } else {
                fail(keyPath, keyNode, "unknown key '\(key)'; expected one of: \(known.joined(separator: ", "))")
            }
        }
        return pairs
    }

    /// A mapping whose keys are names chosen by the user (sinks, labels, headers), in order.
    func namedMapping(_ node: Node, at path: String, hidingText: Bool = false) -> OrderedPairs? {
        guard refuseAnchor(node, at: path) else { return nil }
        if isNull(node) { return OrderedPairs() }
        guard case .mapping(let mapping) = node else {
            fail(path, node, "expected a mapping of names to values, got \(describe(node, hidingText: hidingText))")
            return nil
        }
        var pairs = OrderedPairs()
        for (keyNode, value) in mapping {
            guard let key = key(keyNode, in: path) else { continue }
            pairs.append(key, value)
        }
        return pairs
    }

    /// A key as text; keys must be plain scalars.
    private func key(_ node: Node, in path: String) -> String? {
        guard refuseAnchor(node, at: path) else { return nil }
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            fail(path, node, "keys must be non-empty text, got \(describe(node))")
            return nil
        }
        return scalar.string
    }

    /// Refuses anchors and aliases (`&a`, `*a`): an alias shares its target's node, so walking
    /// a "billion laughs" document would take exponential time. The loader's text scan
    /// refuses them before parsing; this is the second line of defence.
    func refuseAnchor(_ node: Node, at path: String) -> Bool {
        guard node.anchor == nil else {
            fail(path, node, "anchors and aliases (&name, *name) are not supported; write the value out")
            return false
        }
        return true
    }

    // MARK: - Scalars

    /// The text of a scalar that is not null, nor empty unless `allowEmpty` (then only quoted:
    /// `""`).
    func text(_ node: Node, at path: String, expected: String, allowEmpty: Bool = false) -> String? {
        guard refuseAnchor(node, at: path) else { return nil }
        guard case .scalar(let scalar) = node else {
            fail(path, node, "expected \(expected), got \(describe(node))")
            return nil
        }
        if isNull(node) {
            fail(path, node, "expected \(expected), got nothing")
            return nil
        }
        guard let value = interpolated(scalar.string, at: path, node: node) else { return nil }
        if value.isEmpty && !allowEmpty {
            fail(path, node, "expected \(expected), got nothing" + (scalar.string.isEmpty ? "" : " (after ${…} was replaced)"))
            return nil
        }
        return value
    }

    // MARK: - Environment variables

    /// A value with its environment variables replaced, as Docker Compose does it: `${VAR}` and
    /// `$VAR`; `${VAR:-default}` (unset or empty: the default), `${VAR-default}` (unset: the
    /// default), `${VAR:?message}` / `${VAR?message}` (unset or empty / unset: an error with the
    /// message); `$$` is a literal `$`. A variable that is not set and has no default is an
    /// error. Values are replaced after parsing, so no variable can change the file's structure;
    /// keys are never replaced. Nil (reported) when a variable is missing or a `${` is malformed.
    func interpolated(_ text: String, at path: String, node: Node) -> String? {
        guard text.contains("$") else { return text }
        let characters = Array(text)
        var output = ""
        var index = 0
        var failed = false
        func isNameStart(_ character: Character) -> Bool { character == "_" || (character.isASCII && character.isLetter) }
        func isName(_ character: Character) -> Bool { isNameStart(character) || (character.isASCII && character.isNumber) }
        func value(of name: String, modifier: String?, argument: String) -> String? {
            let current = environment[name]
            switch modifier {
            case ":-": return (current?.isEmpty ?? true) ? argument : current
            case "-": return current ?? argument
            case ":?", "?":
                if current == nil || (modifier == ":?" && current!.isEmpty) {
                    fail(path, node, "environment variable \(name) is not set" + (current == nil ? "" : " or empty") + (argument.isEmpty ? "" : ": \(argument)"))
                    return nil
                }
                return current
            default:
                guard let current else {
                    fail(path, node, "environment variable \(name) is not set; set it, or give a default: ${\(name):-default}")
                    return nil
                }
                return current
            }
        }
        while index < characters.count {
            let character = characters[index]
            guard character == "$", index + 1 < characters.count else {
                output.append(character)
                index += 1
                continue
            }
            let next = characters[index + 1]
            if next == "$" {
                output.append("$")
                index += 2
            } else if next == "{" {
                guard let close = characters[(index + 2)...].firstIndex(of: "}") else {
                    fail(path, node, "'${' without its closing '}' (write $$ for a literal $)")
                    return nil
                }
                let inner = characters[(index + 2)..<close]
                var nameEnd = inner.startIndex
                while nameEnd < inner.endIndex, isName(inner[nameEnd]) { nameEnd += 1 }
                let name = String(inner[inner.startIndex..<nameEnd])
                guard let first = name.first, isNameStart(first) else {
                    fail(path, node, "'${\(String(inner))}' does not start with a variable name (letters, digits, _)")
                    return nil
                }
                var rest = inner[nameEnd...]
                var modifier: String?
                for candidate in [":-", ":?", "-", "?"] where rest.starts(with: candidate) {
                    modifier = candidate
                    rest = rest.dropFirst(candidate.count)
                    break
                }
                if modifier == nil && !rest.isEmpty {
                    fail(path, node, "'${\(String(inner))}': expected ${NAME}, ${NAME:-default} or ${NAME:?message}")
                    return nil
                }
                if let replacement = value(of: name, modifier: modifier, argument: String(rest)) {
                    output += replacement
                } else {
                    failed = true
                }
                index = close + 1
            } else if isNameStart(next) {
                var end = index + 1
                while end < characters.count, isName(characters[end]) { end += 1 }
                let name = String(characters[(index + 1)..<end])
                if let replacement = value(of: name, modifier: nil, argument: "") { output += replacement } else { failed = true }
                index = end
            } else {
                output.append(character)
                index += 1
            }
        }
        return failed ? nil : output
    }

    /// Text, for keys whose value may be shown in errors.
    func string(_ node: Node, at path: String, allowEmpty: Bool = false) -> String? {
        text(node, at: path, expected: "text", allowEmpty: allowEmpty)
    }

    /// A whole number in `range`.
    func integer(_ node: Node, at path: String, in range: ClosedRange<Int> = 1...Int.max) -> Int? {
        let expected = range.lowerBound == 1 ? "a positive integer" : range.lowerBound == 0 ? "a non-negative integer" : "an integer"
        guard let text = text(node, at: path, expected: expected) else { return nil }
        guard let value = Int(text.replacingUnderscores) else {
            fail(path, node, "expected \(expected), got \(quoted(text))")
            return nil
        }
        guard range.contains(value) else {
            fail(path, node, "expected \(expected) \(describe(range)), got \(value)")
            return nil
        }
        return value
    }

    /// A finite number greater than zero.
    func positiveNumber(_ node: Node, at path: String) -> Double? {
        guard let text = text(node, at: path, expected: "a positive number") else { return nil }
        guard let value = Double(text.replacingUnderscores), value.isFinite, value > 0, value <= 1e12 else {
            fail(path, node, "expected a positive number (at most 1e12), got \(quoted(text))")
            return nil
        }
        return value
    }

    /// `true` or `false`.
    func bool(_ node: Node, at path: String) -> Bool? {
        guard let text = text(node, at: path, expected: "true or false") else { return nil }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default:
            fail(path, node, "expected true or false, got \(quoted(text))")
            return nil
        }
    }

    /// One of `choices`, by its file spelling.
    func choice<Value>(_ node: Node, at path: String, _ choices: KeyValuePairs<String, Value>) -> Value? {
        let names = choices.map(\.key).joined(separator: ", ")
        guard let text = text(node, at: path, expected: "one of \(names)") else { return nil }
        guard let value = choices.first(where: { $0.key == text.lowercased() })?.value else {
            fail(path, node, "expected one of \(names), got \(quoted(text))")
            return nil
        }
        return value
    }

    /// A level name (`trace` … `critical`; `warn` and `fatal` accepted).
    func level(_ node: Node, at path: String) -> LogLevel? {
        let names = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
        guard let text = text(node, at: path, expected: "a level (\(names))") else { return nil }
        guard let level = LogLevel(parsing: text) else {
            fail(path, node, "expected a level (\(names)), got \(quoted(text))")
            return nil
        }
        return level
    }

    /// A duration: a number with a unit, `ms`, `s`, `m` or `h` (`250ms`, `1.5s`, `5m`).
    func duration(_ node: Node, at path: String, allowZero: Bool = false) -> Duration? {
        let expected = "a duration such as 500ms, 2s or 5m"
        guard let text = text(node, at: path, expected: expected) else { return nil }
        guard let value = ConfigurationUnits.duration(text), allowZero || value > .zero else {
            fail(path, node, "expected \(expected)\(allowZero ? "" : ", greater than zero"), got \(quoted(text))")
            return nil
        }
        return value
    }

    /// A size in bytes: a whole number, optionally with a unit (`B`, `KB`, `KiB`, `MB`, `MiB`,
    /// `GB`, `GiB`, `TB`, `TiB`).
    func size(_ node: Node, at path: String, minimum: Int64 = 1, why: String? = nil) -> Int64? {
        let expected = "a size such as 1048576, 512KiB or 1GiB"
        guard let text = text(node, at: path, expected: expected) else { return nil }
        guard let value = ConfigurationUnits.size(text) else {
            fail(path, node, "expected \(expected), got \(quoted(text))")
            return nil
        }
        guard value >= minimum else {
            fail(path, node, "expected at least \(minimum) bytes, got \(quoted(text))" + (why.map { ": \($0)" } ?? ""))
            return nil
        }
        return value
    }

    /// A list of texts; a single text is not a list.
    func stringList(_ node: Node, at path: String) -> [String]? {
        guard refuseAnchor(node, at: path) else { return nil }
        if isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            fail(path, node, "expected a list, got \(describe(node))")
            return nil
        }
        var values: [String] = []
        for (index, element) in sequence.enumerated() {
            if let value = string(element, at: "\(path)[\(index)]") { values.append(value) }
        }
        return values
    }

    /// A mapping of names to texts (labels).
    func stringMap(_ node: Node, at path: String) -> [String: String]? {
        guard let pairs = namedMapping(node, at: path) else { return nil }
        var values: [String: String] = [:]
        for (key, value) in pairs {
            if let text = string(value, at: join(path, key)) { values[key] = text }
        }
        return values
    }

    // MARK: - Helpers

    /// Whether the node is YAML null: `~`, `null` or nothing, unquoted.
    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// What a node is, for "got …": a quoted, shortened scalar, or its kind.
    /// - Parameter hidingText: Where a secret is likely (under `credentials`, or a whole file
    ///   that is one scalar: `--config` pointed at a token file), text is not shown.
    /// - Parameter showingKeys: Whether a `key:` that looks like a key path is shown all the same.
    func describe(_ node: Node, hidingText: Bool = false, showingKeys: Bool = false) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "nothing" : shown(scalar.string, hiding: hidingText, showingKeys: showingKeys || !hidingText)
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// Text found where something else was expected. A `key:value` without a space after the
    /// colon is one scalar to YAML, and its value may be a secret (`bearer:sk_live_…`): only
    /// the key is shown, with the hint, and only when it looks like a key path of this schema
    /// (lowercase words, `_`, `-`, `.`, few digits). Text before a
    /// colon that does not may be the secret itself (`sk_Live_9f…:x`, found by the
    /// configuration fuzz target), and is not shown.
    private func shown(_ text: String, hiding: Bool, showingKeys: Bool) -> String {
        let hint = "a key and its value need a space after the colon"
        if let colon = text.firstIndex(of: ":") {
            if showingKeys, Self.looksLikeKeyPath(text[..<colon]) {
                return "\(quoted(String(text[...colon])))… (the rest is not shown: it may be a secret; \(hint))"
            }
            return "text with a colon in it (not shown here: it may be a secret; \(hint))"
        }
        return hiding ? "text (not shown here: it may be a secret)" : quoted(text)
    }

    /// Whether the text could be a key path such as `sinks.loki.credentials.bearer`: 1 to 64
    /// characters, each a lowercase ASCII letter, a digit, `_`, `-` or `.`, with at most one
    /// digit in four. Secrets are mixed-case or long runs of digits and letters.
    static func looksLikeKeyPath(_ text: Substring) -> Bool {
        let scalars = text.unicodeScalars
        guard (1...64).contains(scalars.count) else { return false }
        var digits = 0
        for scalar in scalars {
            switch scalar {
            case "a"..."z", "_", "-", ".": continue
            case "0"..."9": digits += 1
            default: return false
            }
        }
        return digits * 4 <= scalars.count
    }

    /// The text with its control characters (line breaks among them) written as escapes
    /// (`\n`), so that an error names what the file held on one line.
    static func oneLine(_ text: String) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}"
        }
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            escaped += isControl(scalar) ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return escaped
    }

    /// The text in double quotes, cut at 40 characters, control characters escaped.
    func quoted(_ text: String) -> String {
        var shown = ""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == 40 { shown += "…"; break }
            shown += scalar.value < 0x20 || scalar.value == 0x7F ? scalar.escaped(asASCII: true) : String(scalar)
        }
        return "\"\(shown)\""
    }

    private func describe(_ range: ClosedRange<Int>) -> String {
        range.upperBound == .max ? "" : "(at most \(range.upperBound))"
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }
}

/// A mapping's pairs in the order written (YAML mappings are ordered in the file, and sinks
/// keep that order).
struct OrderedPairs: Sequence {
    private(set) var pairs: [(key: String, value: Node)] = []

    mutating func append(_ key: String, _ value: Node) { pairs.append((key, value)) }

    subscript(key: String) -> Node? { pairs.first { $0.key == key }?.value }

    /// Whether the key was written.
    func has(_ key: String) -> Bool { self[key] != nil }

    func makeIterator() -> IndexingIterator<[(key: String, value: Node)]> { pairs.makeIterator() }
}

extension String {
    /// `1_000_000` → `1000000`, as YAML 1.1 allows in numbers.
    fileprivate var replacingUnderscores: String {
        contains("_") ? replacingOccurrences(of: "_", with: "") : self
    }
}
