import Foundation
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// A small file system for one test: a tmpfs of `megabytes` mounted on a fresh temporary
/// directory when this process may mount one (root, as here and in CI), unmounted when the value
/// is dropped. Where mounting is not allowed, `mounted` is false and the caller falls back to
/// SQLite's `max_page_count` of the same size.
final class SmallFileSystem: Sendable {
    let directory = TemporaryDirectory("spool-diskfull")
    let megabytes: Int
    let mounted: Bool

    init(megabytes: Int) {
        self.megabytes = megabytes
        // SPOOL_TEST_NO_TMPFS=1 runs the fallback on purpose.
        mounted = getuid() == 0 && ProcessInfo.processInfo.environment["SPOOL_TEST_NO_TMPFS"] == nil
            && Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", directory.path])
    }

    var path: String { directory.file("app.spool") }

    /// Says which variant runs, in the test output.
    var description: String {
        mounted ? "a \(megabytes) MiB tmpfs at \(directory.path)"
            : "SQLite's max_page_count of \(megabytes) MiB (no tmpfs: not root, mount refused, or SPOOL_TEST_NO_TMPFS)"
    }

    /// The store configuration for a spool on this file system: bounded only by the disk,
    /// checkpoints every 16 pages so the WAL's reserve (17 checkpoints' worth) stays small.
    func configuration(_ policy: SpoolStore.OverflowPolicy, reports: Reports) -> SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration()
        configuration.maximumBytes = nil
        configuration.overflowPolicy = policy
        configuration.checkpointPages = 16
        configuration.report = reports.record
        if !mounted { configuration.maximumPageCount = megabytes * 256 }
        return configuration
    }

    /// Takes what space is left with another file, as another program filling the disk would.
    /// - Returns: the filler's path (nil without a tmpfs).
    func fillTheRest() -> String? {
        guard mounted else { return nil }
        let filler = directory.file("filler")
        let descriptor = open(filler, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let block = [UInt8](repeating: 0x5A, count: 4096)
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        return filler
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    deinit {
        // Lazily, so a connection still open cannot keep the mount alive.
        if mounted { _ = Self.run("/bin/umount", ["-l", directory.path]) }
    }
}

/// A spool on a small, really full file system (or SQLite's page limit where a test may not
/// mount one): the overflow policy applies as at the size bound, nothing stored is damaged,
/// and acknowledgements free the room without any manual step.
@Suite struct StoreDiskFullTests {
    static let message = String(repeating: "d", count: 400)

    /// Appends numbered entries one at a time (committed mode) until the disk is full, then
    /// `beyond` more. Entry n gets id n + 1 when nothing is dropped at the bound.
    struct Run {
        var appended: [Int] = []
        var refused: [SpoolError] = []
        /// Appends that returned before the first drop or refusal: what the disk held.
        var beforeFull: Int?
    }

    func fill(_ spool: SpoolStore, reports: Reports, beyond: Int) -> Run {
        var run = Run()
        var number = 0
        while number < 200_000 {
            do throws(SpoolError) {
                try spool.append(entry(number, message: Self.message))
                run.appended.append(number)
            } catch {
                run.refused.append(error)
            }
            number += 1
            if run.beforeFull == nil, !run.refused.isEmpty || reports.topics().contains("spool.store.dropped") {
                run.beforeFull = run.appended.count
            }
            if let full = run.beforeFull, number >= full + beyond { break }
        }
        return run
    }

    /// The drops recorded in the spool: (reason, count, first id, last id).
    func recordedDrops(_ path: String) throws -> [(reason: String, count: Int64, first: Int64?, last: Int64?)] {
        try SQL(path).rows("SELECT reason, count, first_id, last_id FROM drops ORDER BY rowid").map {
            ($0[0] ?? "", Int64($0[1] ?? "0") ?? 0, $0[2].flatMap { Int64($0) }, $0[3].flatMap { Int64($0) })
        }
    }

    /// What every stored entry's context says it was, in id order.
    func storedNumbers(_ path: String) throws -> [Int64] {
        try SQL(path).rows("SELECT json_extract(context, '$.n') FROM entries WHERE topic = 'test' ORDER BY id").map { Int64($0[0] ?? "-1") ?? -1 }
    }

    func acknowledgeEverything(_ spool: SpoolStore) throws {
        while true {
            let batch = try spool.claim(sink: "loki", owner: "forwarder", maxCount: 100_000, maxBytes: Int.max)
            guard !batch.entries.isEmpty else { return }
            try spool.acknowledge(sink: "loki", owner: "forwarder", through: batch.lastID, delivered: batch.entries.count)
        }
    }

    func integrity(_ path: String) throws -> String? { try SQL(path).text("PRAGMA integrity_check") }

    /// A spool with one sink on a fresh small file system, filled until full and `beyond`.
    struct Filled {
        let disk: SmallFileSystem
        let reports: Reports
        let policy: SpoolStore.OverflowPolicy
        let spool: SpoolStore
        let run: Run
        let beforeFull: Int
    }

    func fillUntilFull(_ policy: SpoolStore.OverflowPolicy, beyond: Int) throws -> Filled {
        let disk = SmallFileSystem(megabytes: 8)
        print("disk full, \(policy): \(disk.description)")
        let reports = Reports()
        let spool = try SpoolStore(path: disk.path, configuration: disk.configuration(policy, reports: reports))
        try spool.registerSink("loki")
        let run = fill(spool, reports: reports, beyond: beyond)
        let beforeFull = try #require(run.beforeFull, "the disk never filled up")
        return Filled(disk: disk, reports: reports, policy: policy, spool: spool, run: run, beforeFull: beforeFull)
    }

    /// Closes the spool, reopens it: nothing set aside, `pending` entries for the sink, sound.
    func expectCleanReopen(_ filled: Filled, pending: Int) throws {
        try filled.spool.close()
        let reopened = try SpoolStore(path: filled.disk.path, configuration: filled.disk.configuration(filled.policy, reports: filled.reports))
        #expect(reopened.recoveredFrom == nil)
        #expect(try reopened.stats().sinks.first?.pending == Int64(pending))
        try reopened.close()
        #expect(try integrity(filled.disk.path) == "ok")
    }

    @Test func aFullDiskDropsTheOldestEntriesCountedAndAcknowledgementsMakeRoomAgain() throws {
        let filled = try fillUntilFull(.dropOldest, beyond: 3000)
        let (disk, reports, spool, run, beforeFull) = (filled.disk, filled.reports, filled.spool, filled.run, filled.beforeFull)
        #expect(run.refused.isEmpty, "\(run.refused.count) refused, first: \(run.refused.first?.description ?? "")")
        #expect(beforeFull > 5000, "the disk filled after \(beforeFull) entries")

        // Every append returned; what is missing is an oldest prefix, named by counted drops.
        let drops = try recordedDrops(disk.path)
        #expect(!drops.isEmpty && drops.allSatisfy { $0.reason == "disk_full:dropOldest" }, "\(drops)")
        let dropped = drops.reduce(0) { $0 + $1.count }
        let stored = try storedNumbers(disk.path)
        #expect(Int64(stored.count) + dropped == Int64(run.appended.count))
        #expect(stored == (dropped..<Int64(run.appended.count)).map { $0 })
        #expect(drops.last?.last == dropped)
        var reported: Int64 = 0
        for report in reports.all where report.topic == "spool.store.dropped" {
            if case .int(let count) = report.context?["count"] { reported += count }
        }
        #expect(reported == dropped)
        #expect(try integrity(disk.path) == "ok")

        // Another program takes the rest of the disk: appends either store (dropping, counted)
        // or fail with the clear error; nothing stored is damaged or lost uncounted.
        var refusedWhenTaken = 0
        if let filler = disk.fillTheRest() {
            for number in 0..<200 {
                do throws(SpoolError) {
                    try spool.append(entry(2_000_000 + number, message: Self.message))
                } catch {
                    refusedWhenTaken += 1
                    #expect(error.code == .diskFull && error.message.contains(disk.path), "\(error)")
                }
            }
            #expect(try integrity(disk.path) == "ok")
            unlink(filler)
        }

        // Forwarding acknowledges everything: the room comes back with no manual step.
        try acknowledgeEverything(spool)
        let dropsBefore = try recordedDrops(disk.path).count
        for number in 0..<2000 { try spool.append(entry(3_000_000 + number, message: Self.message)) }
        #expect(try recordedDrops(disk.path).count == dropsBefore)
        print("disk full, dropOldest: \(beforeFull) entries stored before full, \(dropped) dropped (counted) of \(run.appended.count), \(disk.mounted ? "\(refusedWhenTaken) of 200 refused with the rest of the disk taken by another file" : "no other file (no tmpfs)"), 2000 stored after the acknowledgement")
        try expectCleanReopen(filled, pending: 2000)
    }

    @Test func aFullDiskUnderRejectRefusesWithAClearErrorAndRecoversOnAcknowledgement() throws {
        let filled = try fillUntilFull(.reject, beyond: 50)
        let (disk, spool, run, beforeFull) = (filled.disk, filled.spool, filled.run, filled.beforeFull)
        #expect(run.appended == Array(0..<beforeFull), "an append succeeded after the first refusal")
        #expect(run.refused.count == 50)
        let refusal = try #require(run.refused.first)
        #expect(refusal.code == .diskFull)
        #expect(refusal.message.contains(disk.path) && refusal.message.contains("reject") && refusal.message.contains("forwarding frees space"), "\(refusal)")
        #expect(try recordedDrops(disk.path).isEmpty)
        #expect(try storedNumbers(disk.path) == (0..<Int64(beforeFull)).map { $0 })
        #expect(try integrity(disk.path) == "ok")

        // Acknowledging half of it is enough: the very next append is stored.
        let half = try spool.claim(sink: "loki", owner: "forwarder", maxCount: beforeFull / 2, maxBytes: Int.max)
        try spool.acknowledge(sink: "loki", owner: "forwarder", through: half.lastID, delivered: half.entries.count)
        var recoveredAfter = 0
        for number in 0..<1000 {
            recoveredAfter += 1
            if (try? spool.append(entry(1_000_000 + number, message: Self.message))) != nil { break }
        }
        #expect(recoveredAfter == 1)
        for number in 1..<500 { try spool.append(entry(1_000_000 + number, message: Self.message)) }
        print("disk full, reject: \(beforeFull) entries stored before full, 50 refused with diskFull, stored again \(recoveredAfter) append(s) after acknowledging \(half.entries.count)")
        try expectCleanReopen(filled, pending: beforeFull - half.entries.count + 500)
    }

    @Test func aFullDiskUnderDropNewestKeepsWhatIsStoredAndCountsTheRest() throws {
        let filled = try fillUntilFull(.dropNewest, beyond: 500)
        let (disk, spool, run, beforeFull) = (filled.disk, filled.spool, filled.run, filled.beforeFull)
        #expect(run.refused.isEmpty, "\(run.refused.count) refused, first: \(run.refused.first?.description ?? "")")
        let drops = try recordedDrops(disk.path)
        #expect(drops.allSatisfy { $0.reason == "disk_full:dropNewest" && $0.first == nil }, "\(drops)")
        let stored = try storedNumbers(disk.path)
        #expect(stored == (0..<Int64(stored.count)).map { $0 })
        #expect(Int64(stored.count) + drops.reduce(0) { $0 + $1.count } == Int64(run.appended.count))
        #expect(try integrity(disk.path) == "ok")

        // Acknowledged, the rows go (in chunks the WAL has room for), and new entries are stored.
        try acknowledgeEverything(spool)
        let dropsBefore = try recordedDrops(disk.path).count
        for number in 0..<2000 { try spool.append(entry(1_000_000 + number, message: Self.message)) }
        #expect(try recordedDrops(disk.path).count == dropsBefore)
        #expect(try storedNumbers(disk.path).suffix(2000) == (1_000_000..<1_002_000).map { $0 })
        #expect(try spool.stats().sinks.first?.pending == 2000)
        #expect(try integrity(disk.path) == "ok")
        print("disk full, dropNewest: \(beforeFull) entries stored before full, \(drops.reduce(0) { $0 + $1.count }) newest dropped (counted)")
        try spool.close()
    }
}

/// The same full disk, drained by a real forwarder: a scheduler sending NDJSON to the test
/// server on 127.0.0.1, acknowledging batch by batch.
/// A checkpoint that fails for want of room is said, not swallowed: the writer's bound keeps its
/// own commits within the disk, but another program can take the space between a commit and
/// the checkpoint that copies it into the database file.
@Suite struct CheckpointFailureTests {
    @Test(.enabled(if: getuid() == 0, "needs a tmpfs: a checkpoint fails only on a really full file system"))
    func aCheckpointThatFailsOnAFullDiskIsReported() throws {
        // 64 MiB: on a smaller file system the store lowers the checkpoint threshold below 100.
        let fileSystem = SmallFileSystem(megabytes: 64)
        try #require(fileSystem.mounted, "mounting a tmpfs was refused")
        let reports = Reports()
        var configuration = fileSystem.configuration(.reject, reports: reports)
        configuration.checkpointPages = 100  // no checkpoint on its own for these few pages
        let spool = try SpoolStore(path: fileSystem.path, configuration: configuration)
        try spool.append(contentsOf: (0..<150).map { entry($0, message: StoreDiskFullTests.message) })
        #expect(spool.checkpointRuns == 0)
        // The entries are in the WAL only; the database file must grow to take them.
        _ = try #require(fileSystem.fillTheRest())
        spool.requestCheckpoint()
        #expect(spool.waitForCheckpoint(timeout: .seconds(30)))
        let failures = reports.all.filter { $0.topic == "spool.store.checkpoint_failed" }
        #expect(failures.count == 1)
        #expect(failures.first?.level == .error)
        // Nothing stored was harmed: the entries are all there, read through the WAL.
        #expect(try SQL(fileSystem.path).int("SELECT count(*) FROM entries") == 150)
        try spool.close()
    }
}

/// Repair writes a whole copy before it installs it: when the disk cannot hold the copy, the
/// repair fails with the reason, leaves the spool exactly as it was, and removes its partial
/// copy (which it used to leave behind, taking the room a full disk lacks).
@Suite struct RepairOnAFullDiskTests {
    @Test(.enabled(if: getuid() == 0, "needs a tmpfs"))
    func aRepairThatCannotWriteItsCopyFailsAndLeavesTheSpoolAsItWas() throws {
        let fileSystem = SmallFileSystem(megabytes: 16)
        try #require(fileSystem.mounted, "mounting a tmpfs was refused")
        do {  // released before the repair, which refuses while this process has the spool open
            let spool = try SpoolStore(path: fileSystem.path, configuration: fileSystem.configuration(.reject, reports: Reports()))
            try spool.append(contentsOf: (0..<12000).map { entry($0, message: StoreDiskFullTests.message) })
            try spool.close()
        }
        #expect(try SQL(fileSystem.path).int("SELECT count(*) FROM entries") == 12000)
        try SQL(fileSystem.path).connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let before = try #require(FileManager.default.contents(atPath: fileSystem.path))
        // Room for an empty spool (the copy's schema), not for the entries: more of them than
        // SQLite's page cache holds, so the copy's inserts themselves hit the full disk.
        let filler = try #require(fileSystem.fillTheRest())
        let size = try #require(FileManager.default.attributesOfItem(atPath: filler)[.size] as? NSNumber).int64Value
        #expect(truncate(filler, off_t(size - 400 << 10)) == 0)

        #expect { try SpoolStore.repair(path: fileSystem.path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .io || error?.code == .diskFull
        }
        #expect(FileManager.default.contents(atPath: fileSystem.path) == before)
        let left = try FileManager.default.contentsOfDirectory(atPath: fileSystem.directory.path)
        #expect(!left.contains { $0.contains(".repairing-") || $0.contains(".corrupt-") }, "\(left)")
    }
}

@Suite struct ForwardDiskFullTests {
    @Test func aRealForwarderDrainsAFullDiskAndAppendsResumeByThemselves() async throws {
        let filled = try StoreDiskFullTests().fillUntilFull(.reject, beyond: 10)
        let (disk, spool, beforeFull) = (filled.disk, filled.spool, filled.beforeFull)
        #expect(filled.run.refused.count == 10)
        var transportConfiguration = Transport.Configuration()
        transportConfiguration.requestTimeout = .seconds(5)
        let transport = Transport(configuration: transportConfiguration)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            var configuration = SinkScheduler.Configuration(name: "loki")
            configuration.retry = quickRetries()
            configuration.maxInFlight = 1
            configuration.maxBatchWait = .zero
            configuration.pollInterval = .milliseconds(5)
            let scheduler = SinkScheduler(store: spool, sink: NDJSONSink(configuration: .init(url: server.url(path: "/ingest"))),
                                          transport: transport, configuration: configuration, owner: "forwarder", report: filled.reports.record)
            try await scheduler.run(until: .empty)
            // Every stored entry arrived once, in order.
            #expect(try ForwardRig.numbers(server.requests) == Array(0..<beforeFull))
        }
        try await transport.shutdown()
        // No manual step: the next appends are stored (the acknowledged rows make room).
        for number in 0..<2000 { try spool.append(entry(1_000_000 + number, message: StoreDiskFullTests.message)) }
        #expect(try StoreDiskFullTests().recordedDrops(disk.path).isEmpty)
        print("disk full, forwarded: \(beforeFull) entries delivered to 127.0.0.1 in order, 2000 appends stored after the drain")
        try StoreDiskFullTests().expectCleanReopen(filled, pending: 2000)
    }
}
