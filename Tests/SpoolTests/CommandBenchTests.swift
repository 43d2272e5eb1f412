import Foundation
import Testing

/// `spool bench forward` and `drain` as a user runs them, tiny: they end, every entry reaches
/// the counting receiver and the spool ends empty. Not timed: benchmarks are never timed tests.
@Suite struct CommandBenchTests {
    @Test func benchForwardDeliversEveryEntryAndExitsZero() throws {
        let outcome = try SpoolBinary.run(["bench", "forward", "--entries", "1000"], timeout: .seconds(60))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("end to end:"))
    }

    @Test func benchDrainDeliversEveryEntryAndExitsZero() throws {
        let outcome = try SpoolBinary.run(["bench", "drain", "--entries", "1000"], timeout: .seconds(60))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("drain:"))
    }
}
