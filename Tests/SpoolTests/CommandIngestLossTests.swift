import Foundation
import Testing
@testable import Spool

/// `spool ingest` and `forward --stdin` never exit 0 after dropping or refusing input: one closing
/// line says what was stored, dropped (by reason) and refused.
@Suite struct CommandIngestLossTests {
    /// 2,000 lines of ~300 bytes into a spool bounded at 256 KiB.
    let scratch = TemporaryDirectory()

    func run(_ command: [String], overflow: String, sinks: String = "") throws -> (SpoolBinary.Outcome, String) {
        let spool = scratch.file("app.spool")
        let config = scratch.file("spool.yaml")
        try "spool:\n  path: \(spool)\n  max_size: 256KiB\n  overflow: \(overflow)\n\(sinks)".write(toFile: config, atomically: true, encoding: .utf8)
        let lines = (0..<2000).map { "line \($0) " + String(repeating: "ü", count: 150) }.joined(separator: "\n") + "\n"
        let outcome = try SpoolBinary.run(command + ["--config", config], input: lines)
        return (outcome, spool)
    }

    @Test(arguments: ["drop_newest", "drop_oldest"])
    func ingestThatDropsExitsNonZeroSayingWhatWasStoredAndDropped(overflow: String) throws {
        let (outcome, spool) = try run(["ingest"], overflow: overflow)
        #expect(outcome.status != 0)
        let line = try #require(outcome.stderrLines.last)
        #expect(line.hasPrefix("spool: error: 2000 lines read: ") && line.contains(" dropped (overflow:") && line.hasSuffix(", 0 refused"), "\(outcome.stderr)")
        let stored = try SpoolFileProbe.entries(spool).count
        #expect(stored > 0 && stored < 2000)
        if overflow == "drop_newest" { #expect(line.contains(": \(stored) stored, \(2000 - stored) dropped"), "\(line)") }
        if overflow == "drop_oldest" {
            // Each 1000-line commit is larger than the bound: the oldest lines make room, those
            // of the same commit among them, and the newest are kept.
            #expect(!line.contains("dropNewest"), "\(line)")
            #expect(try SpoolFileProbe.entries(spool).last?.message.hasPrefix("line 1999 ") == true)
        }
        // Drops at every commit: one warning line, not one per commit (the closing line counts them).
        let warnings = outcome.stderrLines.filter { $0.contains("\"spool.store.dropped\"") }
        #expect(warnings.count == 1, "\(outcome.stderr)")
    }

    @Test func ingestThatIsRefusedExitsNonZeroSayingWhatWasStoredAndRefused() throws {
        let (outcome, spool) = try run(["ingest"], overflow: "reject")
        #expect(outcome.status != 0)
        let stored = try SpoolFileProbe.entries(spool).count
        // The first batch alone is over the bound: it is refused whole, and nothing after it read.
        let line = try #require(outcome.stderrLines.first { $0.hasPrefix("spool: error: ") && $0.contains(" lines read: ") }, "\(outcome.stderr)")
        #expect(line.contains(": \(stored) stored, 0 dropped, ") && line.contains(" refused; the input after line "), "\(line)")
    }

    @Test func forwardStdinThatDropsExitsNonZero() throws {
        let (outcome, _) = try run(["forward", "--stdin", "--until-empty"], overflow: "drop_newest", sinks: "sinks:\n  out:\n    type: console\n")
        #expect(outcome.status != 0)
        #expect(outcome.stderrLines.contains { $0.hasPrefix("spool: error: 2000 lines read: ") && $0.contains(" dropped (overflow:dropNewest") }, "\(outcome.stderr)")
    }
}
