import Foundation
import SpoolTesting
import Testing
@testable import Spool

func entry(_ number: Int, level: LogLevel = .info, topic: String = "test", message: String? = nil) -> LogEntry {
    LogEntry(timestamp: 1_732_873_200_000_000_000 + Int64(number), level: level, topic: topic,
             message: message ?? "entry \(number)", context: ["n": .int(Int64(number))])
}

@Suite struct StoreTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    @Test func newSpoolIsPrivateToItsOwnerAndInWALMode() throws {
        let spool = try SpoolStore(path: path)
        try spool.append(entry(1))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let walMode = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.posixPermissions] as? NSNumber
        #expect(walMode?.intValue == 0o600)
        #expect(try SQL(path).text("PRAGMA journal_mode") == "wal")
        #expect(try SQL(path).int("PRAGMA user_version") == Int64(Migrations.latestVersion))
    }

    /// An empty file someone created (`touch app.spool`, mode 0644, or 0666 under umask 000)
    /// becomes a spool like a new one: private to its owner, its -wal and -shm too. A spool that
    /// already holds data keeps the mode its owner gave it.
    @Test func anEmptyFileTakenAsANewSpoolIsMadePrivate() throws {
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o666])
        let spool = try SpoolStore(path: path)
        try spool.append(entry(1))
        for file in [path, path + "-wal", path + "-shm"] {
            let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600, "\(file)")
        }
        try spool.close()
        #expect(chmod(path, 0o640) == 0)
        try SpoolStore(path: path).close()
        let kept = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(kept?.intValue == 0o640)
    }

    @Test func appendedEntriesAreStoredInOrderWithEveryColumn() throws {
        let spool = try SpoolStore(path: path)
        try spool.append(entry(1))
        try spool.append(contentsOf: [entry(2, level: .error, topic: "a.b"), entry(3)])
        let rows = try SQL(path).rows("SELECT id, ts_ns, level, topic, message, context, schema FROM entries ORDER BY id")
        #expect(rows.count == 3)
        #expect(rows[1] == ["2", "1732873200000000002", "error", "a.b", "entry 2", #"{"n":2}"#, "spool/log/v1"])
        #expect(rows.map { $0[0] } == ["1", "2", "3"])
    }

    /// A claim reads the level and the schema from the column's bytes, without a `String`:
    /// every level, the current schema and another one come back as stored.
    @Test func aClaimReadsBackEveryLevelAndSchemaAsStored() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("s")
        try spool.append(contentsOf: LogLevel.allCases.enumerated().map { entry($0.offset, level: $0.element) })
        let sql = try SQL(path)
        try sql.connection.execute("UPDATE entries SET schema = 'spool/log/v2' WHERE id = 2")
        let claimed = try spool.claim(sink: "s", owner: "t").entries
        #expect(claimed.map(\.level) == LogLevel.allCases)
        #expect(claimed.map(\.schema) == LogLevel.allCases.indices.map { $0 == 1 ? "spool/log/v2" : "spool/log/v1" })
        for level in LogLevel.allCases {
            #expect(level.rawValue.utf8.withContiguousStorageIfAvailable(LogLevel.init(rawValueUTF8:)) == level)
        }
        for wrong in ["", "inf", "infx", "Info", "INFO", "warn", "errors", "tracer", "notices", "criticall", "xxxxx", "dbug"] {
            #expect(Array(wrong.utf8).withUnsafeBufferPointer(LogLevel.init(rawValueUTF8:)) == nil, "\(wrong)")
        }
    }

    @Test func fsyncModeUsesFullSynchronousAndCommittedModeNormal() throws {
        let fsync = try SpoolStore(path: path, configuration: .init(durability: .fsync))
        let level = try fsync.writer.withLock { try $0.connection.scalarInt("PRAGMA synchronous") }
        #expect(level == 2)
        let other = try SpoolStore(path: directory.file("b.spool"))
        #expect(try other.writer.withLock { try $0.connection.scalarInt("PRAGMA synchronous") } == 1)
    }

    @Test func longMessagesAreCutWithAVisibleMarker() throws {
        var configuration = SpoolStore.Configuration()
        configuration.maximumMessageBytes = 1000
        let spool = try SpoolStore(path: path, configuration: configuration)
        let huge = String(repeating: "é", count: 5_000_000)  // 10 MB of UTF-8
        try spool.append(entry(1, message: huge))
        let stored = try #require(try SQL(path).text("SELECT message FROM entries"))
        #expect(stored.utf8.count <= 1000)
        #expect(stored.hasSuffix("…[truncated: 10000000 bytes]"))
        #expect(stored.hasPrefix("éé"))
    }

    @Test func invalidUTF8IsStoredWithReplacementCharacters() throws {
        let spool = try SpoolStore(path: path)
        let bytes: [UInt8] = [0x61, 0xFF, 0x62, 0xC3]
        try spool.append(entry(1, message: String(decoding: bytes, as: UTF8.self)))
        #expect(try SQL(path).text("SELECT message FROM entries") == "a\u{FFFD}b\u{FFFD}")
    }

    @Test func concurrentAppendersAllLandAndKeepTheirOwnOrder() async throws {
        let spool = try SpoolStore(path: path)
        let threads = 8, perThread = 500
        await onThreads(threads) { thread in
            for index in 0..<perThread {
                try! spool.append(entry(thread * 10_000 + index, topic: "t\(thread)"))
            }
        }
        let sql = try SQL(path)
        #expect(try sql.int("SELECT count(*) FROM entries") == Int64(threads * perThread))
        for thread in 0..<threads {
            let numbers = try sql.rows("SELECT json_extract(context, '$.n') FROM entries WHERE topic = 't\(thread)' ORDER BY id")
                .map { Int($0[0]!)! }
            #expect(numbers == (0..<perThread).map { thread * 10_000 + $0 })
        }
    }

    @Test func bufferedModeCommitsWithinTheDelayOnTheInjectedClock() async throws {
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration(durability: .buffered(maxDelay: .milliseconds(200)))
        configuration.clock = clock
        let spool = try SpoolStore(path: path, configuration: configuration)
        let running = try await spool.startRunning()
        try spool.append(entry(1))
        try spool.append(entry(2))
        #expect(spool.uncommittedCount == 2)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        // Wait (bounded) for the background writer to park on the clock, then move time.
        for _ in 0..<10_000 where clock.sleeperCount == 0 { await Task.yield() }
        clock.advance(by: .milliseconds(200))
        for _ in 0..<100_000 where spool.uncommittedCount > 0 { await Task.yield() }
        #expect(spool.uncommittedCount == 0)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 2)
        running.cancel()
        try await running.value
    }

    @Test func bufferedFlushCommitsAtOnce() throws {
        let spool = try SpoolStore(path: path, configuration: .init(durability: .buffered(maxDelay: .seconds(3600))))
        try spool.append(contentsOf: (1...10).map { entry($0) })
        try spool.flush()
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 10)
    }

    /// The first row of a batch goes in alone, the rest by statements of up to 16 rows (of
    /// exactly that many): every row keeps its place, and after the table emptied the ids
    /// continue above the ones handed out before.
    @Test(arguments: [1, 16, 17, 18, 40, 1000])
    func aBatchOfAnySizeIsStoredInOrderWithFreshIds(count: Int) throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("s")
        try spool.append(contentsOf: (0..<5).map { entry($0) })
        _ = try spool.claim(sink: "s", owner: "t")
        try spool.acknowledge(sink: "s", owner: "t", through: 5, delivered: 5)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        try spool.append(contentsOf: (0..<count).map { entry(100 + $0, topic: "t\($0 % 3)") })
        let rows = try SQL(path).rows("SELECT id, json_extract(context, '$.n'), topic, message FROM entries ORDER BY id")
        #expect(rows.map { Int($0[0]!)! } == Array(6..<(6 + count)))
        #expect(rows.map { Int($0[1]!)! } == Array(100..<(100 + count)))
        #expect(rows.map { $0[2]! } == (0..<count).map { "t\($0 % 3)" })
        #expect(rows.map { $0[3]! } == (0..<count).map { "entry \(100 + $0)" })
    }

    /// Releasing a buffered spool whose last commit fails (here: refused at the size bound)
    /// loses what waited in memory: that is reported, never silent.
    @Test func releasingABufferedSpoolWhoseLastCommitFailsReportsTheLostEntries() throws {
        let reports = Reports()
        var configuration = SpoolStore.Configuration(durability: .buffered(maxDelay: .seconds(3600)))
        configuration.maximumBytes = SpoolStore.Configuration.minimumMaximumBytes
        configuration.overflowPolicy = .reject
        configuration.report = reports.record
        do {
            let spool = try SpoolStore(path: path, configuration: configuration)
            try spool.append(contentsOf: (0..<100).map { entry($0, message: String(repeating: "x", count: 4000)) })
            #expect(spool.uncommittedCount == 100)
        }
        let dropped = reports.all.filter { $0.topic == "spool.store.dropped" }
        #expect(dropped.count == 1)
        #expect(dropped.first?.level == .critical)
        #expect(dropped.first?.context?["count"] == .int(100))
    }

    @Test func closedSpoolRefusesAppends() throws {
        let spool = try SpoolStore(path: path)
        try spool.close()
        #expect { try spool.append(entry(1)) } throws: { ($0 as? SpoolError)?.code == .closed }
    }

    @Test func checkpointsRunInTheBackgroundOnceTheWALGrows() async throws {
        var configuration = SpoolStore.Configuration()
        configuration.checkpointPages = 20
        let spool = try SpoolStore(path: path, configuration: configuration)
        let running = try await spool.startRunning()
        try await onOwnThread {
            for batch in 0..<50 {
                try spool.append(contentsOf: (0..<50).map { entry(batch * 50 + $0, message: String(repeating: "x", count: 200)) })
            }
            #expect(spool.waitForCheckpoint(timeout: .seconds(30)))
        }
        #expect(spool.checkpointRuns > 0)
        running.cancel()
        try await running.value
        // Autocheckpoint stays off on the writer: the append path never checkpoints itself.
        #expect(try spool.writer.withLock { try $0.connection.scalarInt("PRAGMA wal_autocheckpoint") } == 0)
    }

    // Whatever the platform's SQLite was built with (Debian: ON, SQLite's default: OFF), the
    // connection that deletes delivered entries zeroes them only where it writes anyway.
    @Test func deletesZeroOnlyPagesTheyWriteAnyway() throws {
        let spool = try SpoolStore(path: path)
        #expect(try spool.writer.withLock { try $0.connection.scalarInt("PRAGMA secure_delete") } == 2)  // FAST
    }

    // What docs/architecture.md (section 2) and docs/cli.md ("spool compact") promise: delivered
    // entries' bytes may stay in freed pages, and `spool compact` takes them out of the file and
    // its WAL.
    @Test func compactTakesDeliveredEntriesOutOfTheFile() throws {
        let marker = "delivered-7f3a9c"
        do {
            let spool = try SpoolStore(path: path)
            try spool.registerSink("loki")
            try spool.append(contentsOf: (0..<3000).map { entry($0, message: "\(marker) \($0) " + String(repeating: "x", count: 150)) })
            var last: Int64 = 0
            for _ in 0..<10 {
                let batch = try spool.claim(sink: "loki", owner: "a", after: last, maxCount: 1000)
                guard !batch.entries.isEmpty else { break }
                try spool.acknowledge(sink: "loki", owner: "a", through: batch.lastID, delivered: batch.entries.count)
                last = batch.lastID
            }
            #expect(last == 3000)
            try spool.releaseLease(sink: "loki", owner: "a")  // as `spool forward` does when it exits
            try spool.close()
        }
        func occurrences() throws -> Int {
            try [path, path + "-wal"].reduce(0) { total, file in
                guard let data = FileManager.default.contents(atPath: file) else { return total }
                return total + data.split(separator: Data(marker.utf8), omittingEmptySubsequences: false).count - 1
            }
        }
        #expect(try occurrences() > 0, "FAST left nothing: the docs overstate what stays")
        _ = try SpoolStore.compact(path: path)
        #expect(try occurrences() == 0)
    }
}

@Suite struct CheckpointModeTests {
    // A sustained stream of appends keeps a PASSIVE checkpoint from ever reaching the WAL's end
    // (measured: a 2.6 GiB WAL after 10M appends, BENCHMARKS.md); past 16 times the threshold the
    // checkpointer follows its PASSIVE with a short RESTART. The effect on the WAL's size is a
    // benchmark figure (a debug-build test appends too slowly to outrun PASSIVE).
    @Test func theRestartThresholdIsSixteenTimesTheThresholdWithoutOverflow() {
        let checkpointer = Checkpointer(path: "/dev/null", threshold: 1000, report: { _ in }, clock: ManualClock())
        #expect(checkpointer.restartThreshold == 16_000)
        #expect(checkpointer.warningPages == 32_000)
        let huge = Checkpointer(path: "/dev/null", threshold: Int(Int32.max), report: { _ in }, clock: ManualClock())
        #expect(huge.restartThreshold == .max && huge.warningPages == .max)
    }

    /// A threshold of new pages wakes the checkpointer; past the RESTART threshold every commit
    /// does, but only while a RESTART is due: after one found a reader in the way, not until
    /// its backoff has passed.
    @Test func newPagesWakeTheCheckpointerAndPastTheRestartThresholdEveryCommitOnceARestartIsDue() {
        let checkpointer = Checkpointer(path: "/dev/null", threshold: 1000, report: { _ in }, clock: ManualClock())
        #expect(checkpointer.wantsCheckpoint(walPages: 999, pagesAtLastCheckpoint: 0) == false)
        #expect(checkpointer.wantsCheckpoint(walPages: 1000, pagesAtLastCheckpoint: 0))
        #expect(checkpointer.wantsCheckpoint(walPages: 5_999, pagesAtLastCheckpoint: 5_000) == false)
        #expect(checkpointer.wantsCheckpoint(walPages: 6_000, pagesAtLastCheckpoint: 5_000))
        #expect(checkpointer.wantsCheckpoint(walPages: 16_001, pagesAtLastCheckpoint: 16_000))
        #expect(checkpointer.wantsCheckpoint(walPages: 16_001, pagesAtLastCheckpoint: 16_000, restartDue: { false }) == false)
        checkpointer.restartNotBefore.store(100, ordering: .relaxed)
        #expect(checkpointer.restartDue(now: 99) == false)
        #expect(checkpointer.restartDue(now: 100))
    }

    /// The WAL's reserve shrinks with a small file system or a small size bound (a fixed 68 MB
    /// reserve kept a spool on an 8 MiB tmpfs from storing anything), down to 16 pages.
    @Test func theCheckpointThresholdShrinksWithTheFileSystemAndTheBound() {
        var configuration = SpoolStore.Configuration()
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: 250 << 30) == 1000)
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: nil) == 1000)
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: 16 << 20) == (16 << 20) / 8 / (17 * 4096))
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: 1 << 20) == 16)
        configuration.maximumBytes = 16 << 20
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: 250 << 30) == (16 << 20) / 4 / (17 * 4096))
        configuration.checkpointPages = 5
        #expect(configuration.effectiveCheckpointPages(fileSystemBytes: 1 << 20) == 5)
    }
}
