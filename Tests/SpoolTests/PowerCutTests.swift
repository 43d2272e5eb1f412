import Foundation
import Testing

@testable import Spool
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

    /// An acknowledgement commits, then syncs the WAL once the writer's lock is released. When
    /// that sync fails, the acknowledgement is visible but not on disk, and Linux reports a
    /// failed writeback only once: the store must stop, not go on sending on a later sync's
    /// word, and a retried acknowledgement (a no-op, the position having moved) must not pass
    /// for a synced one. Opened again, the spool works.
    @Test func aFailedSyncAfterAnAcknowledgementStopsTheStore() throws {
        let scratch = TemporaryDirectory()
        let path = scratch.file("app.spool")
        func entry(_ n: Int) -> LogEntry { LogEntry(timestamp: Int64(n), level: .info, topic: "t", message: "entry \(n)") }
        _ = try Recorder.record(scratch.path) { _ in
            let store = try SpoolStore(path: path)
            try store.registerSink("s")
            try store.append(contentsOf: (1...6).map(entry))
            let first = try store.claim(sink: "s", owner: "o", maxCount: 2)  // the WAL's first sync
            try store.acknowledge(sink: "s", owner: "o", through: first.lastID, delivered: 2)
            let second = try store.claim(sink: "s", owner: "o", after: first.lastID, maxCount: 2)
            Recorder.failNextSyncs(1)
            let failure = #expect(throws: SpoolError.self) {
                try store.acknowledge(sink: "s", owner: "o", through: second.lastID, delivered: 2)
            }
            #expect(failure?.code == .io)
            #expect(failure?.message.contains("sends nothing more") == true, "\(String(describing: failure))")
            #expect(throws: SpoolError.self) { try store.acknowledge(sink: "s", owner: "o", through: second.lastID, delivered: 2) }
            #expect(throws: SpoolError.self) { try store.claim(sink: "s", owner: "o", after: second.lastID) }
            #expect(throws: SpoolError.self) { try store.makeDurable(through: second.lastID) }
            #expect(!store.isDurable(through: 1))
            // Appends are not refused: the failure is in what the store may promise a
            // destination, and the app keeps logging.
            try store.append(entry(7))
        }
        Recorder.failNextSyncs(0)
        let reopened = try SpoolStore(path: path)
        let rest = try reopened.claim(sink: "s", owner: "o")
        #expect(rest.entries.map(\.message) == ["entry 5", "entry 6", "entry 7"])
    }
}
