import Foundation
import Spool

/// The Prometheus text exposition format 0.0.4 (protocols.md §2), as far as Spool writes it:
/// names sanitized, label values and help text escaped, and the Pushgateway's grouping-key path.
enum PrometheusText {
    // MARK: - Names

    /// A metric name by `[a-zA-Z_][a-zA-Z0-9_]*`: any other character becomes `_` (colons too:
    /// they are reserved for recording rules), a leading digit gets `_` before it, and an empty
    /// name becomes `_`.
    static func metricName(_ name: String) -> String {
        sanitized(name)
    }

    /// A label name by `[a-zA-Z_][a-zA-Z0-9_]*`, with a leading `__` (reserved) made `_`.
    static func labelName(_ name: String) -> String {
        var result = sanitized(name)
        while result.hasPrefix("__") { result.removeFirst() }
        return result
    }

    private static func sanitized(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_": result.unicodeScalars.append(scalar)
            default: result += "_"
            }
        }
        if result.isEmpty { return "_" }
        if let first = result.unicodeScalars.first, ("0"..."9").contains(first) { result = "_" + result }
        return result
    }

    // MARK: - Escaping

    /// A label value inside double quotes: `\` → `\\`, `"` → `\"`, newline → `\n`; all other
    /// UTF-8 as it is.
    static func labelValue(_ value: String) -> String {
        var result = ""
        result.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }

    /// HELP text: `\` → `\\`, newline → `\n` (quotes stay as they are).
    static func helpText(_ text: String) -> String {
        var result = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }

    // MARK: - One counter family

    /// `# HELP`, `# TYPE … counter`, then one sample per label set, each line ending in `\n`
    /// (the last one included, which the format requires). No timestamps: the Pushgateway
    /// rejects them. An empty family is no text at all.
    ///
    /// - Parameters:
    ///   - name: A sanitized metric name.
    ///   - samples: Label pairs (sanitized names, raw values) and the value, in output order.
    static func counter(name: String, help: String, samples: [(labels: [(String, String)], value: Int64)]) -> String {
        guard !samples.isEmpty else { return "" }
        var text = "# HELP \(name) \(helpText(help))\n# TYPE \(name) counter\n"
        for sample in samples {
            text += name
            if !sample.labels.isEmpty {
                text += "{"
                text += sample.labels.map { "\($0.0)=\"\(labelValue($0.1))\"" }.joined(separator: ",")
                text += "}"
            }
            text += " \(sample.value)\n"
        }
        return text
    }

    // MARK: - Grouping key

    /// `/metrics/job/<job>{/<label>/<value>}`: values containing `/`, and empty values, as
    /// `<label>@base64/<base64url>` (an empty value is `=`); other values percent-encoded
    /// (everything but `A-Z a-z 0-9 - . _ ~`).
    static func groupingPath(_ labels: [(name: String, value: String)]) -> String {
        var path = "/metrics"
        for label in labels {
            if label.value.isEmpty {
                path += "/\(label.name)@base64/="
            } else if label.value.contains("/") {
                path += "/\(label.name)@base64/\(base64URL(label.value))"
            } else {
                path += "/\(label.name)/\(percentEncoded(label.value))"
            }
        }
        return path
    }

    /// RFC 4648 §5 base64url, without padding.
    static func base64URL(_ value: String) -> String {
        Data(value.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func percentEncoded(_ value: String) -> String {
        var result = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }
}
