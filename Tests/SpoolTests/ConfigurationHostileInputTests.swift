import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// The loader takes any bytes: it returns a configuration or an error, never crashes or hangs
/// (issue 7 fuzzes it; these are the inputs known to hurt YAML loaders).
@Suite struct ConfigurationHostileInputTests {
    typealias F = ConfigurationFixtures

    static func refusal(_ bytes: [UInt8]) -> String {
        do {
            _ = try SpoolConfiguration(yaml: bytes)
            Issue.record("accepted")
            return ""
        } catch {
            #expect(error.code == .configuration)
            return error.message
        }
    }

    @Test func invalidUTF8IsRefusedWithItsLine() {
        let bytes = Array("spool:\n  path: a\n  durability: ".utf8) + [0xC3, 0x28, 0xFF] + Array("\n".utf8)
        #expect(Self.refusal(bytes) == "line 3: the configuration is not valid UTF-8")
        #expect(Self.refusal([0xFE, 0xFF, 0x00, 0x73]) == "line 1: the configuration is not valid UTF-8")
    }

    @Test func controlCharactersAndNULAreRefused() {
        let message = Self.refusal(Array("spool:\n  path: a\u{0}b\n".utf8))
        #expect(message.hasPrefix("line 2: invalid YAML: control characters are not allowed"), "\(message)")
    }

    @Test func deepNestingIsRefusedByTheParser() {
        let flow = String(repeating: "[", count: 100_000)
        #expect(F.refusal("spool: " + flow).contains("invalid YAML"))
        let block = (0..<1200).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n")
        #expect(F.refusal(block).contains("invalid YAML"))
        // Just under the parser's limit: parsed, then refused as unknown keys, without recursion trouble.
        let deep = "spool: {path: a}\nsinks: {s: {type: http, url: 'http://x', retry: " + String(repeating: "[", count: 990) + String(repeating: "]", count: 990) + "}}"
        #expect(F.refusal(deep) == "sinks.s.retry: line 2: expected a mapping of keys to values, got a list")
    }

    @Test func hugeNumbersAreBadValuesNotTraps() {
        for value in ["99999999999999999999999999", "-9223372036854775809", "1e400", "NaN", ".inf", "0x7fffffffffffffff"] {
            let message = F.refusal(F.withSink("type: http\nurl: http://x\nbatch_size: \(value)"))
            #expect(message.hasPrefix("sinks.s.batch_size: line 7: expected a positive integer"), "\(value): \(message)")
        }
        for value in ["9223372036854775807TiB", "99999999999999999999999", "1.5GiB", "-1"] {
            let message = F.refusal(F.withSink("type: http\nurl: http://x\nbatch_bytes: \(value)"))
            #expect(message.hasPrefix("sinks.s.batch_bytes: line 7: expected a size"), "\(value): \(message)")
        }
        for value in ["1e300h", "9999999999999999999999h", "1..2s", ".s", "-1s", "NaNs", "infh"] {
            let message = F.refusal(F.withSink("type: http\nurl: http://x\nbatch_wait: \(value)"))
            #expect(message.hasPrefix("sinks.s.batch_wait: line 7: expected a duration"), "\(value): \(message)")
        }
        for value in ["1e400", "inf", "-0", "nan"] {
            let message = F.refusal(F.withSink("type: http\nurl: http://x\nrate_limit: {per_second: \(value)}"))
            #expect(message.hasPrefix("sinks.s.rate_limit.per_second: line 7: expected a positive number"), "\(value): \(message)")
        }
    }

    @Test func aBillionLaughsIsRefusedBeforeParsing() {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...30 {
            lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("? *a30\n: boom")
        let started = ContinuousClock.now
        let message = F.refusal(lines.joined(separator: "\n"))
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(message.hasPrefix("line 1, column 5: '&' followed by a name starts an anchor, and YAML anchors and aliases (&name, *name) are not supported"))
    }

    @Test func anchorsAndAliasesAreRefusedWhereverTheyAre() {
        #expect(F.refusal("spool: {path: a}\nsinks:\n  s: {type: http, url: *u}\n")
            .hasPrefix("line 3, column 24: '*' followed by a name starts an alias"))
        #expect(F.refusal("spool:\n  path: a\n  <<: [&x {}]\n").hasPrefix("line 3, column 8: '&'"))
        #expect(F.refusal("spool: {path: a,b: *c}\n").hasPrefix("line 1, column 20: '*'"))
        #expect(F.refusal("spool: [a,*c]\n").hasPrefix("line 1, column 11: '*'"))
        #expect(F.refusal("spool:\u{2028}*c\n").hasPrefix("line 1, column 8: '*'"))
        // Quoted text and text in which no token can start are fine.
        let configuration = try? F.load("spool: {path: 'a&b*c'}\nredaction: {marker: \"***\"}\nsinks: {s: {type: http, url: 'http://x/?a=1&b=2'}}\n")
        #expect(configuration?.spoolPath == "a&b*c")
        #expect(configuration?.redaction.marker == "***")
        // The price of a text scan: quoted text with '&' after a blank is refused too.
        #expect(F.refusal("spool: {path: 'fish &chips'}\n").hasPrefix("line 1, column 21: '&'"))
    }

    @Test func theWalkRefusesAnchoredNodesEvenWithoutTheTextScan() throws {
        // The second line of defence, checked directly: a parsed anchor is refused, not expanded.
        let yaml = Array("spool: &s {path: a}\nsinks:\n  s: {type: http, url: 'http://x', retry: *s}\n".utf8)
        let error = #expect(throws: SpoolError.self) { try SpoolConfiguration.decode(yaml, scanningForAliases: false) }
        // The alias is reported at its target's line: Yams shares the anchored node.
        #expect(error?.message == """
            spool: line 1: anchors and aliases (&name, *name) are not supported; write the value out
            sinks.s.retry: line 1: anchors and aliases (&name, *name) are not supported; write the value out
            """)
    }

    @Test func oversizedAndOddDocumentsAreRefused() {
        let big = Array(repeating: UInt8(ascii: "#"), count: SpoolConfiguration.maximumFileBytes + 1)
        #expect(Self.refusal(big) == "the configuration is \(big.count) bytes; at most \(SpoolConfiguration.maximumFileBytes) are accepted")
        #expect(F.refusal("") == "the configuration is empty; it needs at least spool.path")
        #expect(F.refusal("# only a comment\n") == "the configuration is empty; it needs at least spool.path")
        #expect(F.refusal("just text") == "line 1: expected a mapping of keys to values, got text (not shown here: it may be a secret)")
        #expect(F.refusal("? [a, b]\n: c\n").hasPrefix("line 1: keys must be non-empty text, got a list\n"))
        #expect(F.refusal("\"\": 1\n").hasPrefix(#"line 1: keys must be non-empty text, got """#))
    }

    @Test func randomAndMutatedInputsNeverCrash() {
        var generator = SplitMix64(seed: 7)
        let seed = Array(ConfigurationLoadingTests.full.utf8)
        let alphabet = Array("{}[]:,-?&*!|>'\"#%@` \n\t\\abc019.".utf8)
        for round in 0..<1500 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int(generator.next() % 200)).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            } else {
                bytes = seed
                for _ in 0..<(1 + Int(generator.next() % 8)) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[index] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: index)
                    }
                }
            }
            do {
                _ = try SpoolConfiguration(yaml: bytes)
            } catch {
                #expect(error.code == .configuration)
                #expect(!error.message.isEmpty)
            }
        }
    }
}

/// A small deterministic generator, so a failing mutation can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
