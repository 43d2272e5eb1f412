import Foundation
import Spool
import Yams

extension SpoolConfiguration {
    /// The largest configuration file accepted: far above any real one, small enough that a
    /// hostile file cannot make the loader use much memory or time.
    package static let maximumFileBytes = 1 << 20

    /// Loads a YAML configuration file.
    ///
    /// Every problem is reported at once, one per line, each as `<key path>: line <n>: <what is
    /// wrong>`: unknown keys, bad values, missing required keys, and secrets written inline
    /// (refused with a pointer to the `_env` / `_file` form; the value is never repeated).
    /// Credentials are not read here but when the forwarder is made
    /// (``makeForwarder(store:name:httpClient:environment:)``).
    ///
    /// ```swift
    /// let configuration = try SpoolConfiguration(contentsOfFile: "/etc/spool/billing.yaml")
    /// let store = try configuration.openStore()
    /// ```
    /// - Parameter path: The file.
    /// - Throws: `SpoolError` with code `io` when the file cannot be read, `configuration` when
    ///   it is not a valid configuration.
    public init(contentsOfFile path: String) throws(SpoolError) {
        let bytes = try Self.readFile(path, limit: Self.maximumFileBytes, what: "the configuration file")
        do throws(SpoolError) {
            try self.init(yaml: bytes)
        } catch {
            let separator = error.message.contains("\n") ? ":\n" : ": "
            throw SpoolError(.configuration, path + separator + error.message)
        }
    }

    /// Loads a configuration from YAML text; see ``init(contentsOfFile:)``.
    /// - Parameter yaml: The document.
    /// - Throws: `SpoolError` with code `configuration`, naming each wrong key and its line.
    public init(yaml: String) throws(SpoolError) {
        try self.init(yaml: Array(yaml.utf8))
    }

    /// Loads a configuration from the bytes of a YAML file, which must be UTF-8. Any input,
    /// however malformed, gives a configuration or an error: never a crash or a hang.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``.
    package init(yaml bytes: [UInt8]) throws(SpoolError) {
        self = try Self.decode(bytes, scanningForAliases: true, environment: ProcessInfo.processInfo.environment)
    }

    /// Loads a configuration from YAML text, with `${VAR}` looked up in `environment` instead of
    /// the process's; see ``init(contentsOfFile:)``.
    /// - Throws: ``SpoolError`` with code ``SpoolError/Code/configuration``.
    package init(yaml: String, environment: [String: String]) throws(SpoolError) {
        self = try Self.decode(Array(yaml.utf8), scanningForAliases: true, environment: environment)
    }

    /// The loader. `scanningForAliases` is false only in the test of the walk's own refusal of
    /// anchors, the second line of defence.
    static func decode(_ bytes: [UInt8], scanningForAliases: Bool,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpoolError) -> SpoolConfiguration {
        func refuse(_ message: String) -> SpoolError { SpoolError(.configuration, message) }
        guard bytes.count <= Self.maximumFileBytes else {
            throw refuse("the configuration is \(bytes.count) bytes; at most \(Self.maximumFileBytes) are accepted")
        }
        let text: String
        switch Self.decodeUTF8(bytes) {
        case .success(let decoded): text = decoded
        case .failure(let error): throw refuse("line \(error.line): the configuration is not valid UTF-8")
        }
        if scanningForAliases, let found = Self.firstAnchorOrAlias(bytes) {
            let kind = found.character == UInt8(ascii: "&") ? "an anchor" : "an alias"
            let character = Character(Unicode.Scalar(found.character))
            throw refuse("line \(found.line), column \(found.column): '\(character)' followed by a name starts \(kind), "
                + "and YAML anchors and aliases (&name, *name) are not supported; write the value out. "
                + "The loader refuses '&' and '*' after a space or a flow indicator anywhere, quoted text and comments included")
        }
        let root: Node?
        let parser: Parser
        do {
            // The parser stays alive while the tree is walked, so that nodes keep their anchors
            // (held weakly by nodes) and the walk can refuse them.
            parser = try Parser(yaml: text, encoding: .utf8)
            root = try parser.singleRoot()
        } catch let error as YamlError {
            throw refuse(Self.describe(error, bytes: bytes))
        } catch {
            throw refuse("the configuration could not be parsed as YAML")
        }
        guard let root else {
            throw refuse("the configuration is empty; it needs at least spool.path")
        }
        let reader = ConfigurationReader(environment: environment)
        let configuration = reader.configuration(root)
        withExtendedLifetime(parser) {}
        if reader.issues.isEmpty, let configuration { return configuration }
        let issues = reader.issues.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }.map(\.element)
        var lines = issues.prefix(ConfigurationReader.maximumIssues).map(\.text)
        if reader.issues.count > ConfigurationReader.maximumIssues {
            lines.append("… and \(reader.issues.count - ConfigurationReader.maximumIssues) more problems")
        }
        throw refuse(lines.joined(separator: "\n"))
    }

    // MARK: - Before parsing

    /// The text, or the line of the first byte that is not UTF-8.
    private static func decodeUTF8(_ bytes: [UInt8]) -> Result<String, LineError> {
        var line = 1
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): if scalar == "\n" { line += 1 }
            case .emptyInput: break loop
            case .error: return .failure(LineError(line: line))
            }
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    struct LineError: Error { var line: Int }

    /// The first `&` or `*` that may start an anchor or alias: where libyaml may start a token
    /// (the start of the file, after a blank, a line break, a byte order mark, a flow indicator
    /// `[]{},`, or `:` and `?`, which are indicators in flow context even before a non-blank),
    /// and before a byte that is not blank.
    ///
    /// Deliberately conservative, since it does not know where quotes and comments are (so
    /// `"fish &chips"` is refused): an alias that is a mapping key makes Yams hash its expanded
    /// target while parsing, which a "billion laughs" document turns into exponential time
    /// before any tree can be checked. After a letter, a digit, a quote or another `&`/`*`, no
    /// token starts, so `"***"` and `?a=1&b=2` pass.
    static func firstAnchorOrAlias(_ bytes: [UInt8]) -> (line: Int, column: Int, character: UInt8)? {
        var line = 1
        var column = 0
        for index in bytes.indices {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                column = 0
                continue
            }
            if byte & 0xC0 != 0x80 { column += 1 }
            guard byte == UInt8(ascii: "&") || byte == UInt8(ascii: "*") else { continue }
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0x20
            guard ![0x20, 0x09, 0x0D, 0x0A].contains(next) else { continue }
            if mayStartToken(bytes, at: index) { return (line, column, byte) }
        }
        return nil
    }

    /// Whether what precedes `index` lets a token start there.
    private static func mayStartToken(_ bytes: [UInt8], at index: Int) -> Bool {
        guard index > 0 else { return true }
        let previous = bytes[index - 1]
        if Array("\t\r\n []{},:?".utf8).contains(previous) { return true }
        func endsWith(_ sequence: [UInt8]) -> Bool {
            index >= sequence.count && Array(bytes[(index - sequence.count)..<index]) == sequence
        }
        // Byte order mark, NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR (libyaml's other breaks).
        return endsWith([0xEF, 0xBB, 0xBF]) || endsWith([0xC2, 0x85]) || endsWith([0xE2, 0x80, 0xA8]) || endsWith([0xE2, 0x80, 0xA9])
    }

    /// A parse error as `line <n>, column <c>: <problem>`. Yams' own descriptions quote the
    /// offending line, which may hold a secret, so they are never used.
    private static func describe(_ error: YamlError, bytes: [UInt8]) -> String {
        func located(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> String {
            var text = "line \(mark.line), column \(mark.column): invalid YAML: \(problem)"
            if let context { text += " (\(context.text) at line \(context.mark.line))" }
            return text
        }
        switch error {
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in 1 + bytes.prefix(max(0, offset)).count { $0 == 0x0A } }
            return (line.map { "line \($0): " } ?? "") + "invalid YAML: \(problem)"
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return located(mark, problem, context)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "'\(ConfigurationReader.oneLine($0))'" }.joined(separator: ", ")
            return "line \(context.mark.line): the same key is written twice in one mapping: \(keys)"
        default:
            return "the configuration could not be parsed as YAML"
        }
    }

    // MARK: - Files

    /// A file's bytes, refusing directories and files over `limit`.
    static func readFile(_ path: String, limit: Int, what: String) throws(SpoolError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SpoolError(.io, "\(what) \(path) does not exist")
        }
        guard !isDirectory.boolValue else { throw SpoolError(.io, "\(what) \(path) is a directory") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SpoolError(.io, "\(what) \(path) cannot be read (check its permissions)")
        }
        defer { try? handle.close() }
        let data: Data?
        do {
            data = try handle.read(upToCount: limit + 1)
        } catch {
            throw SpoolError(.io, "\(what) \(path) cannot be read: \(error.localizedDescription)")
        }
        let bytes = [UInt8](data ?? Data())
        guard bytes.count <= limit else { throw SpoolError(.io, "\(what) \(path) is larger than \(limit) bytes") }
        return bytes
    }
}
