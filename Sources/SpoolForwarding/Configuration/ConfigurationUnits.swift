import Spool

/// The spellings of durations and sizes in a configuration file, and of inline secrets it
/// refuses. Parsed by hand in ASCII, with overflow checked: no input traps.
package enum ConfigurationUnits {
    /// `250ms`, `2s`, `1.5s`, `5m`, `1h` (also `us`, `ns`); nil for anything else, including a
    /// bare number (a unit is required: `30` could mean seconds or milliseconds) and durations
    /// over 100 years.
    package static func duration(_ text: String) -> Duration? {
        let (number, unit) = split(text)
        let nanosecondsPerUnit: Double
        switch unit {
        case "ns": nanosecondsPerUnit = 1
        case "us", "µs": nanosecondsPerUnit = 1e3
        case "ms": nanosecondsPerUnit = 1e6
        case "s": nanosecondsPerUnit = 1e9
        case "m", "min": nanosecondsPerUnit = 60e9
        case "h": nanosecondsPerUnit = 3600e9
        default: return nil
        }
        guard isDecimal(number), let value = Double(number), value.isFinite, value >= 0 else { return nil }
        let nanoseconds = (value * nanosecondsPerUnit).rounded()
        guard nanoseconds <= 100 * 365.25 * 86400e9 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// `1048576`, `512KiB`, `1 GiB`, `10MB`; nil for anything else or beyond 2^62 bytes.
    static func size(_ text: String) -> Int64? {
        let (number, unit) = split(text)
        let multiplier: Int64
        switch unit.lowercased() {
        case "", "b": multiplier = 1
        case "kb": multiplier = 1000
        case "kib": multiplier = 1 << 10
        case "mb": multiplier = 1_000_000
        case "mib": multiplier = 1 << 20
        case "gb": multiplier = 1_000_000_000
        case "gib": multiplier = 1 << 30
        case "tb": multiplier = 1_000_000_000_000
        case "tib": multiplier = 1 << 40
        default: return nil
        }
        guard !number.isEmpty, number.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(number) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow, bytes <= 1 << 62 else { return nil }
        return bytes
    }

    /// The leading number and the unit after it, blanks between them allowed.
    private static func split(_ text: String) -> (number: String, unit: String) {
        let trimmed = text.trimmingBlanks
        let digits = trimmed.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unit = trimmed.dropFirst(digits.count).drop { $0 == " " }
        return (String(digits), String(unit))
    }

    /// Digits with at most one dot, and at least one digit.
    private static func isDecimal(_ text: String) -> Bool {
        var dots = 0
        var digits = 0
        for byte in text.utf8 {
            if byte == 0x2E { dots += 1 } else if byte >= 0x30 && byte <= 0x39 { digits += 1 } else { return false }
        }
        return dots <= 1 && digits > 0 && digits <= 30
    }
}

/// Keys that hold secrets, which a configuration file may only name by environment variable or
/// file, and the form to write instead.
package enum InlineSecret {
    /// Key names (lowercased, `-` read as `_`) refused wherever the schema does not know them.
    package static let names: Set<String> = [
        "password", "passwd", "pass", "secret", "client_secret", "token", "bearer", "bearer_token",
        "access_token", "auth_token", "routing_key", "integration_key", "api_key", "apikey",
        "authorization", "credential", "private_key",
    ]

    /// What to write instead of `key: <secret>`, or nil when `key` does not name a secret.
    /// - Parameter known: the keys of this mapping, to point at the exact form when it exists.
    static func hint(forKey key: String, known: [String]) -> String? {
        let name = key.lowercased().replacingDashes
        guard names.contains(name) else { return nil }
        if known.contains("\(name)_env") {
            return "put it in an environment variable or a file and write \(name)_env: VARIABLE or \(name)_file: PATH"
        }
        let form: String
        switch name {
        case "password", "passwd", "pass":
            form = "credentials: {basic: {username: NAME, password_env: VARIABLE}} (or password_file: PATH)"
        case "token", "bearer", "bearer_token", "access_token", "auth_token":
            form = "credentials: {bearer: {token_env: VARIABLE}} (or token_file: PATH)"
        case "routing_key", "integration_key":
            form = "routing_key_env: VARIABLE (or routing_key_file: PATH) in a pagerduty sink"
        default:
            form = "credentials: {headers: {Header-Name: {env: VARIABLE}}} (or {file: PATH})"
        }
        return "put it in an environment variable or a file and write \(form)"
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingBlanks: String {
        let blanks: Set<Character> = [" ", "\t"]
        guard let first = firstIndex(where: { !blanks.contains($0) }) else { return "" }
        let last = lastIndex(where: { !blanks.contains($0) })!
        return String(self[first...last])
    }

    fileprivate var replacingDashes: String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}
