import Foundation
import Testing
@testable import Spool

/// `spool demo`, `spool compact` and `spool check --repair`, run as a child process against
/// real spool files.
@Suite struct CommandOps2Tests {
    /// Appends `count` entries with ids 1…count, messages `padding` bytes long.
    private func fill(_ path: String, count: Int, padding: Int) throws {
        let store = try SpoolStore(path: path)
        let filler = String(repeating: "x", count: padding)
        var batch: [LogEntry] = []
        for number in 1...count {
            batch.append(LogEntry(timestamp: 1_732_873_200_000_000_000 + Int64(number), level: .info, topic: "test.fill",
                                  message: "entry \(number) \(filler)", context: ["n": .int(Int64(number))]))
            if batch.count == 500 || number == count {
                try store.append(contentsOf: batch)
                batch.removeAll()
            }
        }
        try store.close()
    }

    // MARK: - demo

    @Test func demoSurvivesAnOutageAndLosesNothing() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("demo.spool")
        let outcome = try SpoolBinary.run(["demo", "--entries", "600", "--outage-seconds", "1.5", "--spool", spool],
                                          timeout: .seconds(90))
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains { $0.hasPrefix("written: 600 entries") } || lines.contains { $0.hasPrefix("written:     600 entries") })
        #expect(lines.contains { $0.hasPrefix("delivered:   600 distinct entries") }, "\(outcome.stdout)")
        #expect(lines.contains { $0.hasPrefix("duplicates:  ") }, "\(outcome.stdout)")
        #expect(lines.contains("lost:        0"), "\(outcome.stdout)")
        #expect(lines.contains("sqlite3 \(spool) 'SELECT * FROM sink_status;'"))
        // The outage really happened: requests were refused, and the breaker story was told.
        let refused = lines.first { $0.hasPrefix("delivered:") }.flatMap { line in
            line.split(separator: ";").last?.split(separator: " ").first.flatMap { Int($0) }
        }
        #expect((refused ?? 0) > 0, "\(outcome.stdout)")
        #expect(outcome.stdout.contains("outage: the receiver answers 503"))
        // stderr is not a terminal: plain progress lines, no escape sequences.
        #expect(outcome.stderr.contains("pending "))
        #expect(!outcome.stderr.contains("\u{1B}["))
        // The spool it left is sound and has the sink's position at the last id.
        let stats = try SpoolStore.stats(path: spool)
        #expect(stats.sinks.first?.name == "loki")
        #expect(stats.sinks.first?.pending == 0)
        #expect(stats.sinks.first?.delivered == 600)
    }

    @Test func demoRefusesAnExistingSpool() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("taken.spool")
        try fill(spool, count: 1, padding: 1)
        let outcome = try SpoolBinary.run(["demo", "--fast", "--spool", spool])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("already exists"))
        // The demo's own usage, not the top-level one.
        #expect(outcome.stderr.contains("Usage: spool demo"), "\(outcome.stderr)")
    }

    // MARK: - compact

    @Test func compactFreesTheSpaceOfDeletedEntries() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("big.spool")
        try fill(spool, count: 6000, padding: 1000)
        try SpoolFileProbe.execute(spool, "DELETE FROM entries WHERE id > 10")
        let outcome = try SpoolBinary.run(["compact", "--spool", spool, "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let report = try CommandJSON.decode(SpoolStore.CompactReport.self, outcome.stdout)
        // About 6 MB of messages were deleted: most of it comes back.
        #expect(report.bytesFreed > 4_000_000, "\(report)")
        #expect(report.fileBytesAfter < report.fileBytesBefore)
        #expect(report.freePagesBefore > 1000)
        #expect(report.walBytesAfter == 0)
        #expect(SpoolStore.fileSize(spool) == report.fileBytesAfter)
        #expect(try SpoolFileProbe.entries(spool).map(\.id) == Array(1...10))
        #expect(try SpoolBinary.run(["check", "--spool", spool]).status == 0)

        let text = try SpoolBinary.run(["compact", "--spool", spool])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("freed "))
    }

    @Test func compactRefusesWhileAForwarderHoldsALeaseUnlessForced() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("leased.spool")
        try fill(spool, count: 10, padding: 10)
        let store = try SpoolStore(path: spool)
        try store.registerSink("loki")
        try store.acquireLease(sink: "loki", owner: "test forwarder", duration: .seconds(60))
        let refused = try SpoolBinary.run(["compact", "--spool", spool])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("test forwarder"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--force"))
        let forced = try SpoolBinary.run(["compact", "--spool", spool, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        try store.close()
    }

    // MARK: - check --repair

    /// Leaf pages of `entries`, from SQLite's `dbstat` (nil when this SQLite lacks it).
    private func entryLeafPages(_ path: String) throws -> [Int64]? {
        let connection = try Connection(path: path, create: false, readOnly: true)
        guard let statement = try? connection.prepare("SELECT pageno FROM dbstat WHERE name = 'entries' AND pagetype = 'leaf' ORDER BY pageno") else {
            return nil
        }
        var pages: [Int64] = []
        while try statement.step() { pages.append(statement.int64(0)) }
        return pages
    }

    /// Overwrites whole pages (4096 bytes each, 1-based) with garbage.
    private func garble(_ path: String, pages: [Int64]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var generator = SystemRandomNumberGenerator()
        for page in pages {
            try handle.seek(toOffset: UInt64(page - 1) * 4096)
            try handle.write(contentsOf: Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        }
    }

    @Test func repairSalvagesEveryReadableRowAndKeepsTheDamagedFileAside() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let total = 5000
        try fill(spool, count: total, padding: 150)
        do {  // released: repair refuses while a process (this one too) has the spool open
            let store = try SpoolStore(path: spool)
            try store.registerSink("loki")
            try store.close()
        }
        try SpoolFileProbe.execute(spool, """
            UPDATE sinks SET position = 100, delivered = 100, lease_owner = 'old forwarder', lease_expires_ns = 1;
            INSERT INTO drops (at_ns, reason, count, first_id, last_id) VALUES (1, 'overflow:dropNewest', 3, NULL, NULL);
            PRAGMA wal_checkpoint(TRUNCATE);
            """)
        #expect(SpoolStore.fileSize(spool + "-wal") == 0)

        // Two leaf pages of entries, a third and two thirds of the way through.
        let leaves = try entryLeafPages(spool)
        let pageCount = SpoolStore.fileSize(spool) / 4096
        let victims: [Int64] = if let leaves, leaves.count > 10 {
            [leaves[leaves.count / 3], leaves[2 * leaves.count / 3]]
        } else {
            [pageCount / 3, 2 * pageCount / 3]
        }
        try garble(spool, pages: victims)
        let damaged = try SpoolBinary.run(["check", "--spool", spool])
        try #require(damaged.status == 1, "the garbage went unnoticed: \(damaged.stdout)")

        let outcome = try SpoolBinary.run(["check", "--repair", "--spool", spool, "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let report = try CommandJSON.decode(SpoolStore.RepairReport.self, outcome.stdout)
        let entries = try #require(report.entries)
        // Two pages of ~20 rows each are lost; everything else is saved.
        #expect(entries.saved > total - 200, "\(entries)")
        #expect(entries.saved < total)
        #expect(!entries.lostRanges.isEmpty)

        // The new file is a sound spool, and its ids are exactly the ones not reported lost.
        #expect(try SpoolBinary.run(["check", "--spool", spool]).status == 0)
        let ids = Set(try SpoolFileProbe.entries(spool).map(\.id))
        #expect(ids.count == entries.saved)
        let lost = entries.lostRanges.reduce(into: Set<Int64>()) { set, range in
            set.formUnion(range.first...(range.last ?? Int64(total)))
        }
        #expect(ids.isDisjoint(with: lost))
        #expect(ids.union(lost).isSuperset(of: Set(1...Int64(total))))
        #expect(Int64(entries.saved) + (entries.lostAtMost ?? 0) == Int64(total))

        // Positions kept, leases cleared, drops kept, id floor past every id.
        let sinks = try #require(report.tables.first { $0.name == "sinks" })
        #expect(sinks.saved == 1)
        let stats = try SpoolStore.stats(path: spool)
        #expect(stats.sinks.first?.position == 100)
        #expect(stats.sinks.first?.leaseOwner == nil)
        #expect(report.tables.first { $0.name == "drops" }?.saved == 1)
        #expect(report.idFloor >= Int64(total))

        // The damaged file is kept aside, and the new spool takes new entries above every old id.
        let names = try scratch.names()
        #expect(names.contains { $0.hasPrefix("app.spool.corrupt-") }, "\(names)")
        #expect(report.damagedMovedTo.hasPrefix(spool + ".corrupt-"))
        #expect(FileManager.default.fileExists(atPath: report.damagedMovedTo))
        do {
            let reopened = try SpoolStore(path: spool)
            try reopened.append(LogEntry(timestamp: 1, level: .info, topic: "after", message: "after repair"))
            try reopened.close()
        }
        #expect(try SpoolFileProbe.entries(spool).last?.id == Int64(total) + 1)

        // The text report names the tables and the file kept aside.
        try garble(spool, pages: [SpoolStore.fileSize(spool) / 4096 / 2])
        let text = try SpoolBinary.run(["check", "--repair", "--spool", spool])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("damaged file kept at: \(spool).corrupt-"))
        #expect(text.stdout.contains("entries"))
    }

    @Test func repairLeavesASoundSpoolAlone() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("fine.spool")
        try fill(spool, count: 20, padding: 10)
        let before = try SpoolFileProbe.bytes(spool)
        let outcome = try SpoolBinary.run(["check", "--repair", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("nothing to repair"))
        #expect(try SpoolFileProbe.bytes(spool) == before)
        #expect(!(try scratch.names()).contains { $0.contains("corrupt") || $0.contains("repairing") })
    }
}
