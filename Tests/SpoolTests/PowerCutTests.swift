import Foundation
import Testing

@testable import SpoolPowerCut

/// The power-cut simulator (docs/reliability.md, "Power loss"), with a fixed seed: every mode and
/// workload, cut at every recorded write, truncate and sync (or a sample of them). The recorder
/// is process-wide, hence serialized. Each run is a minute of blocking work: on a thread of its
/// own (`onOwnThread`), not on the cooperative pool, whose two threads every async test shares.
@Suite(.serialized)
struct PowerCutTests {
    @Test(arguments: PowerCutMode.allCases)
    func aPowerCutAtAnyMomentKeepsWhatTheModePromises(mode: PowerCutMode) async throws {
        let summary = try await onOwnThread {
            try PowerCut.run(
                trials: PowerCutWorkload.allCases.count, seed: 16, modes: [mode], workloads: PowerCutWorkload.allCases,
                imagesPerTrial: 40)
        }
        #expect(summary.images >= 400)
        #expect(!summary.failed, "\(summary.line)\n\(summary.findings.joined(separator: "\n"))")
    }

    /// A repair that a cut interrupts, or follows, leaves one whole spool at the path: the
    /// damaged one (set aside at the next open) or the repaired one with every entry it saved.
    /// It renamed the damaged file aside, then the salvaged one in, and synced nothing: a cut
    /// between the two renames left no spool (a fresh one was created, ids from 1 again), and
    /// one after `repair` returned could undo both (docs/reliability.md, "Found and fixed").
    @Test
    func aRepairLeavesTheDamagedOrTheRepairedSpoolAtEveryCut() async throws {
        let summary = try await onOwnThread {
            try PowerCut.run(
                trials: PowerCutMode.allCases.count, seed: 16, modes: PowerCutMode.allCases, workloads: [.repair], imagesPerTrial: 400)
        }
        #expect(summary.images >= 600)
        #expect(!summary.failed, "\(summary.line)\n\(summary.findings.joined(separator: "\n"))")
    }

    /// The checker can fail: without the directory sync SQLite makes after creating the WAL, a
    /// new spool's file (and with it everything fsync promised) may vanish at a cut.
    @Test
    func aMissingDirectorySyncOnCreateIsCaught() async throws {
        let summary = try await onOwnThread {
            try PowerCut.run(
                trials: 1, seed: 16, modes: [.fsync], workloads: [.append], imagesPerTrial: 60, plant: .skipDirectorySync)
        }
        #expect(summary.lostAcknowledged > 0, "\(summary.line)")
    }
}
