import Foundation
import Testing
@testable import Spool

/// A checkpoint runs once per `checkpointPages` new WAL pages, also while the WAL cannot start
/// over (a reader holds an old snapshot, or appends never pause): on the background thread while
/// `run()` runs, inline otherwise.
@Suite struct StoreCheckpointTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    @Test(arguments: [false, true])
    func aCheckpointRunsOncePerThresholdOfNewPagesWhileTheWALCannotStartOver(running: Bool) async throws {
        var configuration = SpoolStore.Configuration()
        configuration.checkpointPages = 40
        let spool = try SpoolStore(path: path, configuration: configuration)
        let background = running ? try await spool.startRunning() : nil
        // On a thread of its own: 400 appends, each waiting for its checkpoint, would otherwise
        // hold one of the cooperative pool's few threads from every other test.
        try await onOwnThread { try checkRuns(spool) }
        background?.cancel()
        try await background?.value
    }

    func checkRuns(_ spool: SpoolStore) throws {
        // A reader that keeps its snapshot: no checkpoint can copy the pages after it, so the WAL
        // keeps growing, as under a steady stream of appends.
        let reader = try SQL(path)
        try reader.connection.execute("BEGIN")
        _ = try reader.int("SELECT count(*) FROM entries")
        let appends = 400
        for number in 0..<appends {
            let before = spool.checkpointRequests
            try spool.append(entry(number))
            // Each wake-up is waited for, so none folds into another and every one is a run.
            if spool.checkpointRequests > before { #expect(spool.waitForCheckpoint(timeout: .seconds(30))) }
        }
        try reader.connection.execute("COMMIT")
        // One row: busy, pages in the WAL, pages copied.
        let row = try SQL(path).rows("PRAGMA wal_checkpoint(PASSIVE)").first
        let walPages = try #require(row?[1].flatMap { Int($0) })
        // At least a page per commit went into the WAL, and it stayed below 16 × the threshold
        // (past that a checkpoint is a RESTART, which would wait for the reader). One run per 40
        // of them, not one per commit.
        #expect(walPages >= appends && walPages < 16 * 40, "\(walPages) WAL pages")
        #expect(spool.checkpointRuns >= walPages / 40 - 1, "\(spool.checkpointRuns) runs for \(walPages) pages")
        #expect(spool.checkpointRuns <= walPages / 40 + 1, "\(spool.checkpointRuns) runs for \(walPages) pages")
    }
}
