// tools/fuzz compiles this file in a package of its own, which reaches Spool's package
// declarations as a test does (built with -enable-testing and -DSPOOL_FUZZ).
#if SPOOL_FUZZ
@testable import Spool
#else
import Spool
#endif

/// logfmt, as Go's kit/log, logrus's text formatter and Heroku write it:
/// `time=2025-11-29T07:00:00Z level=info msg="request done" path=/api`.
///
/// Pairs are separated by spaces or tabs. A value is bare (up to the next space) or quoted
/// (`"…"`, with `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` escapes); `key=` is an empty value, a
/// key without `=` is `true` (Heroku's flags). Every value is kept as a string. A line with no
/// `key=value` pair, an unterminated quote, a quote inside a bare value or an empty key is not
/// logfmt.
enum Logfmt {
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<[String: JSONValue], LineParser.Failure> {
        var fields: [String: JSONValue] = [:]
        var index = 0
        var pairs = 0
        func fail(_ why: String) -> Result<[String: JSONValue], LineParser.Failure> {
            .failure(LineParser.Failure(reason: "not logfmt: \(why) at byte \(index)"))
        }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        while true {
            while index < bytes.count, isSpace(bytes[index]) { index += 1 }
            if index == bytes.count { break }
            let keyStart = index
            while index < bytes.count, !isSpace(bytes[index]), bytes[index] != 0x3D {
                if bytes[index] == 0x22 { return fail("a quote in a key") }
                index += 1
            }
            let key = String(decoding: UnsafeBufferPointer(rebasing: bytes[keyStart..<index]), as: UTF8.self)
            if key.isEmpty { return fail("an empty key") }
            guard index < bytes.count, bytes[index] == 0x3D else {
                fields[key] = .bool(true)
                continue
            }
            index += 1
            if index < bytes.count, bytes[index] == 0x22 {
                index += 1
                var value: [UInt8] = []
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    index += 1
                    if byte == 0x22 { closed = true; break }
                    guard byte == 0x5C, index < bytes.count else { value.append(byte); continue }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case 0x6E: value.append(0x0A)
                    case 0x72: value.append(0x0D)
                    case 0x74: value.append(0x09)
                    case 0x75 where index + 4 <= bytes.count:
                        let hex = String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<(index + 4)]), as: UTF8.self)
                        if let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) {
                            value.append(contentsOf: Array(String(scalar).utf8))
                            index += 4
                        } else {
                            value.append(contentsOf: [0x5C, escaped])
                        }
                    case 0x22, 0x5C: value.append(escaped)
                    default: value.append(contentsOf: [0x5C, escaped])
                    }
                }
                if !closed { return fail("an unterminated quote") }
                if index < bytes.count, !isSpace(bytes[index]) { return fail("text right after a closing quote") }
                fields[key] = .string(String(decoding: value, as: UTF8.self))
            } else {
                let valueStart = index
                while index < bytes.count, !isSpace(bytes[index]) {
                    if bytes[index] == 0x22 { return fail("a quote inside a bare value") }
                    index += 1
                }
                fields[key] = .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[valueStart..<index]), as: UTF8.self))
            }
            pairs += 1
        }
        if pairs == 0 { return .failure(LineParser.Failure(reason: "not logfmt: no key=value pair")) }
        return .success(fields)
    }
}
