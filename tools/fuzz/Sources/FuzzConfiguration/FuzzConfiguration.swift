import FuzzSupport
@testable import Spool
@testable import SpoolForwarding

// The YAML configuration loader (SpoolConfiguration(yaml:)), on any bytes: it runs as root in
// many deployments on a file others may write. Properties: a configuration or a
// `configuration` error with one readable problem per line, never a crash or a hang (libFuzzer's
// -timeout); the same bytes give the same verdict; and a secret written inline is never
// repeated in the error. For the last, every `SECRET` in the input is replaced by a canary that
// must not appear in a line about credentials, unless the input uses it as a key (key paths are
// named in errors on purpose).

let canary = "Zq9-canary-7Qx"

@main enum FuzzConfiguration {
    static func main() { runFuzzer { data, count in fuzz(data, count) } }
}

func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = substitutingCanary(Array(input(data, count)))
    let first = verdict(bytes)
    // The same verdict; not always the same message: Yams reports a key written twice in a
    // mapping that also has a complex key (`? [x]`) at whichever of the two lines its dictionary
    // yields first, which varies between runs (found by this target; left to Yams).
    let second = verdict(bytes)
    switch (first, second) {
    // Compared as multisets of characters: a dictionary's iteration order (labels, headers)
    // differs between two equal dictionaries, so their descriptions may list keys differently.
    case (.success(let one), .success(let two)): expect(one.sorted() == two.sorted(), "the same bytes gave two configurations:\n\(one)\n\(two)")
    case (.failure(let one), .failure(let two)): expect(one.code == two.code, "the same bytes gave \(one) then \(two)")
    default: expect(false, "the same bytes gave two verdicts:\n\(first)\n\(second)")
    }
    guard case .failure(let error) = first else { return 0 }
    expect(error.code == .configuration, "code \(error.code): \(error.message)")
    let lines = error.message.split(separator: "\n", omittingEmptySubsequences: false)
    expect(lines.allSatisfy { !$0.isEmpty }, "an empty line in \(error.message.debugDescription)")
    expect(!error.message.isEmpty && lines.count <= 10_000, "message of \(lines.count) lines")
    if !canaryIsAKey(bytes) {
        // Lines about credentials: a key path with a `credentials` or `headers` segment, or
        // text after the path that speaks of them. Not any path that merely contains the word
        // (a sink named `headerD`: crash 3f3b592b), and not a line about a sink's own value,
        // which is not a secret's place even when the sink's name, which may hold dots, looks
        // like a credentials path (`sinks.a.credentials.bearer.b`: crash 9212f00d). Both were
        // the harness's mistakes.
        for line in lines {
            let text = withoutKeys(line)
            let segments = keyPath(line).split(separator: ".")
            let aboutASink = text.hasPrefix("expected a sink")
            guard (!aboutASink && (segments.contains("credentials") || segments.contains("headers")))
                || text.contains("credentials") || text.contains("header") || text.lowercased().contains("secret") else { continue }
            expect(!text.contains(canary), "an inline secret repeated: \(line)")
        }
    }
    return 0
}

func verdict(_ bytes: [UInt8]) -> Result<String, SpoolError> {
    do throws(SpoolError) {
        let configuration = try SpoolConfiguration(yaml: bytes)
        return .success(String(describing: configuration))
    } catch {
        return .failure(error)
    }
}

func substitutingCanary(_ bytes: [UInt8]) -> [UInt8] {
    let marker = Array("SECRET".utf8)
    var output: [UInt8] = []
    output.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        if bytes[index...].starts(with: marker) {
            output += canary.utf8
            index += marker.count
        } else {
            output.append(bytes[index])
            index += 1
        }
    }
    return output
}

/// The canary followed by a colon (after quotes or spaces), or after `? ` (YAML's explicit
/// key: crash d13664be, a header named by it): a key, which errors name.
func canaryIsAKey(_ bytes: [UInt8]) -> Bool {
    let marker = Array(canary.utf8)
    var index = 0
    while index + marker.count <= bytes.count {
        if bytes[index...].starts(with: marker) {
            var before = index
            while before > 0, [0x20, 0x22, 0x27, 0x09].contains(bytes[before - 1]) { before -= 1 }
            if before > 0 && bytes[before - 1] == UInt8(ascii: "?") { return true }
            var next = index + marker.count
            while next < bytes.count, [0x20, 0x22, 0x27, 0x09].contains(bytes[next]) { next += 1 }
            if next >= bytes.count || bytes[next] == UInt8(ascii: ":") || bytes[next] == UInt8(ascii: ",") || bytes[next] == UInt8(ascii: "}") { return true }
        }
        index += 1
    }
    return false
}

/// The key path an error line starts with (`sinks.loki.credentials: line 3: …`), or nothing.
func keyPath(_ line: Substring) -> Substring {
    guard let range = line.range(of: ": line ") else { return "" }
    return line[..<range.lowerBound]
}

/// An error line without what names keys on purpose: its key path, and the key an "unknown
/// key" refusal quotes (a key may hold the canary: found by this target).
func withoutKeys(_ line: Substring) -> Substring {
    var rest = line
    if let range = rest.range(of: ": line ") { rest = rest[range.upperBound...] }
    if let start = rest.range(of: "unknown key '"), let end = rest.range(of: "'; expected", range: start.upperBound..<rest.endIndex) {
        return rest[..<start.upperBound] + rest[end.lowerBound...]
    }
    return rest
}
