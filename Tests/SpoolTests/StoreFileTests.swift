import CSQLite
import Foundation
import Testing
@testable import Spool

@Suite struct StoreFileTests: SpoolFileFixtures {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    // MARK: - Migrations

    @Test func embeddedMigrationsMatchTheMigrationsDirectory() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(Migrations.all.map { $0.name + ".sql" } == files)
        for (migration, file) in zip(Migrations.all, files) {
            #expect(migration.sql == (try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)))
        }
        #expect(Migrations.all.map(\.version) == Array(1...files.count))
    }

    @Test func aVersionOneSpoolIsUpgradedWithItsDataIntact() throws {
        try SpoolFile.createIfMissing(path)
        do {
            let connection = try Connection(path: path, create: false)
            #expect(try Migrations.migrate(connection, to: 1) == [1])
            try connection.execute("""
                INSERT INTO entries (ts_ns, level, topic, message, context) VALUES (1732873200000000000, 'warning', 'old', 'kept', '{"a":1}');
                INSERT INTO sinks (name, position, created_ns) VALUES ('loki', 0, 0);
                """)
            #expect(try connection.scalarInt("PRAGMA user_version") == 1)
        }
        let spool = try SpoolStore(path: path)
        let sql = try SQL(path)
        #expect(try sql.int("PRAGMA user_version") == Int64(Migrations.latestVersion))
        #expect(try sql.rows("SELECT id, level, topic, message, context FROM entries") == [["1", "warning", "old", "kept", #"{"a":1}"#]])
        #expect(try sql.rows("SELECT sink, id, time FROM pending") == [["loki", "1", "2024-11-29T09:40:00.000Z"]])
        #expect(try spool.claim(sink: "loki", owner: "a").entries.map(\.message) == ["kept"])
    }

    /// Migration 6 spells the level check as comparisons: the same levels pass and the same
    /// values fail, and an insert no longer builds a temporary B-tree of the seven names per
    /// row. The store reopens the connection that migrated, so its own inserts use it too.
    @Test func theLevelCheckAcceptsTheSameLevelsWithoutATemporaryTablePerRow() throws {
        func insertPlan(_ connection: Connection) throws -> [String] {
            let statement = try connection.prepare("EXPLAIN INSERT INTO entries (ts_ns, level, topic, message, context, schema) VALUES (?, ?, ?, ?, ?, ?)")
            var opcodes: [String] = []
            while try statement.step() { opcodes.append(statement.text(1) ?? "") }
            return opcodes
        }
        try SpoolFile.createIfMissing(path)
        do {
            let connection = try Connection(path: path, create: false)
            #expect(try Migrations.migrate(connection, to: 5) == [1, 2, 3, 4, 5])
            #expect(try insertPlan(connection).contains("OpenEphemeral"))
        }
        let spool = try SpoolStore(path: path)
        for (number, level) in LogLevel.allCases.enumerated() { try spool.append(entry(number, level: level)) }
        #expect(try spool.writer.withLock { try insertPlan($0.connection) }.contains("OpenEphemeral") == false)
        let sql = try SQL(path)
        #expect(try insertPlan(sql.connection).contains("OpenEphemeral") == false)
        #expect(try sql.rows("SELECT level FROM entries ORDER BY id").map { $0[0] } == LogLevel.allCases.map(\.rawValue))
        for level in ["verbose", "INFO", "", "info "] {
            #expect(throws: SpoolError.self) {
                try sql.connection.execute("INSERT INTO entries (ts_ns, level, topic, message) VALUES (1, '\(level)', 't', 'm')")
            }
        }
        #expect(try sql.int("SELECT count(*) FROM entries") == Int64(LogLevel.allCases.count))
        #expect(try sql.text("PRAGMA quick_check") == "ok")
    }

    /// Some builds of SQLite start connections in defensive mode, which forbids writing the
    /// schema's text: the migrating connection switches it off, so migration 6 still applies.
    @Test func migrationSixAppliesOnAConnectionInDefensiveMode() throws {
        try SpoolFile.createIfMissing(path)
        let connection = try Connection(path: path, create: false)
        #expect(try Migrations.migrate(connection, to: 5) == [1, 2, 3, 4, 5])
        _ = spool_sqlite_defensive(connection.handle, 1)
        #expect(try Migrations.migrate(connection) == Array(6...Migrations.latestVersion))
        // And the connection is left as it was found.
        #expect(spool_sqlite_defensive(connection.handle, 1) == 1)
        #expect(try SQL(path).text("SELECT sql FROM sqlite_master WHERE name = 'entries'")?.contains("level = 'critical'") == true)
    }

    @Test func aSpoolFromANewerVersionIsRefusedAndLeftUnchanged() throws {
        do {
            let spool = try SpoolStore(path: path)
            try spool.append(entry(1))
            try spool.close()
        }
        try SQL(path).connection.execute("PRAGMA user_version = 99")
        let before = bytes(path)
        #expect { _ = try SpoolStore(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .newerSchema && error!.message.contains("99") && error!.message.contains("nothing was changed")
        }
        #expect(bytes(path) == before)
    }

    @Test func theViewsGiveReadableTimesAndPendingCounts() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: [entry(1), entry(2)])
        let sql = try SQL(path)
        #expect(try sql.rows("SELECT sink, position, pending, oldest_pending_time FROM sink_status") == [["loki", "0", "2", "2024-11-29T09:40:00.000Z"]])
        #expect(try sql.int("SELECT count(*) FROM entries_readable") == 2)
    }

    // MARK: - Damaged and foreign files

    /// Only a file recognisably a spool is ever set aside: anything else may be a user's file.
    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftAsItWas() throws {
        let garbage = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        FileManager.default.createFile(atPath: path, contents: garbage)
        let reports = Reports()
        var configuration = SpoolStore.Configuration()
        configuration.report = reports.record
        #expect { _ = try SpoolStore(path: path, configuration: configuration) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .notASpool && error!.message.contains(path)
        }
        #expect(bytes(path) == garbage)
        #expect(reports.topics() == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["app.spool"])
    }

    /// Opens the spool at `file` (default `path`), which must be found damaged: the store, what
    /// it reported, and where the damaged file went.
    func openRecovering(_ file: String? = nil) throws -> (SpoolStore, Reports, String) {
        let reports = Reports()
        var configuration = quiet
        configuration.report = reports.record
        let spool = try SpoolStore(path: file ?? path, configuration: configuration)
        return (spool, reports, try #require(spool.recoveredFrom))
    }

    func truncateToHalf(_ path: String) throws {
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).intValue
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(size / 2 / 4096 * 4096))
        try handle.close()
    }

    /// Every entry the repaired spool holds must be one of ours, intact, under its own id.
    func expectIntactOursOnly(_ path: String) throws -> [Int64] {
        let rows = try SpoolFileProbe.entries(path)
        for row in rows {
            #expect(row.message == "ours \(row.id) " + String(repeating: "m", count: 300), "entry \(row.id): \(row.message.prefix(20))")
        }
        return rows.map(\.id)
    }

    @Test func aTruncatedSpoolIsDetectedAndSetAside() throws {
        try closedSpool(path)
        try truncateToHalf(path)
        let spool = try SpoolStore(path: path, configuration: quiet)
        #expect(spool.recoveredFrom != nil)
    }

    @Test func repairSalvagesTheReadablePartOfATruncatedSpool() throws {
        try closedSpool(path)
        try truncateToHalf(path)
        #expect(try SpoolStore.check(path: path).status == .corrupt)
        let report = try SpoolStore.repair(path: path)
        let entries = try #require(report.entries)
        let ids = try expectIntactOursOnly(path)
        // Half the file is gone: some of the entries survive, the rest are reported lost.
        #expect(entries.saved > 0 && entries.saved < 3000, "\(entries)")
        #expect(ids.count == entries.saved)
        #expect(!entries.lostRanges.isEmpty)
        #expect(report.idFloor >= ids.last ?? 0)
        print("truncated spool: \(entries.saved) of 3000 entries salvaged intact, lost \(entries.lostRanges.map { "\($0.first)...\($0.last.map(String.init) ?? "end")" })")
        #expect(try SpoolStore.check(path: path).status == .ok)
        #expect(try SpoolStore.stats(path: path).sinks.map(\.name) == ["loki"])
        // The books balance again: what the damage took, as far as the salvaged file can tell
        // (ids up to its raised floor; a lost range open at the end hides how far it went),
        // counts as dropped.
        let books = try #require(try SpoolStore.stats(path: path).sinks.first?.books)
        #expect(books.balances, "\(books)")
        #expect(books.dropped >= 1 && books.pending == Int64(entries.saved), "\(books)")
    }

    @Test func aSpoolWithGarbagePagesIsSetAsideAtOpenAndServiceContinues() throws {
        try closedSpool(path)
        let pages = try #require(try SQL(path).int("PRAGMA page_count"))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        for page in [pages / 3, 2 * pages / 3] {
            try handle.seek(toOffset: UInt64(page - 1) * 4096)
            try handle.write(contentsOf: Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ Int(page)) }))
        }
        try handle.close()
        let damaged = try #require(bytes(path))
        let (spool, reports, aside) = try openRecovering()
        #expect(bytes(aside) == damaged)
        #expect(reports.topics() == ["spool.store.recovered"])
        // One line, naming where the damaged file went and how to salvage what it holds.
        let recovered = try #require(reports.all.first)
        #expect(recovered.message.contains("spool check --repair --spool \(aside)") && !recovered.message.contains("\n"))
        if case .string(let reason) = recovered.context?["reason"] { #expect(!reason.contains("\n"), "\(reason)") }
        try spool.append(entry(1, message: "after"))
        #expect(try SQL(path).rows("SELECT topic, message FROM entries ORDER BY id").last == ["test", "after"])
        // The salvage of these pages is repairSalvagesEveryReadableRowAndKeepsTheDamagedFileAside's.
    }

    /// A damaged file whose own WAL still holds commits (the state a killed process leaves):
    /// the file and its WAL are set aside exactly as found. Without SQLite's
    /// NO_CKPT_ON_CLOSE on the inspecting connection, closing it wrote the WAL into the damaged
    /// file first.
    @Test func aDamagedSpoolIsSetAsideWithItsWALUntouched() throws {
        try closedSpool(path)
        var keepWAL = quiet
        keepWAL.checkpointPages = 100_000
        let live = try SpoolStore(path: path, configuration: keepWAL)
        try live.append(contentsOf: (1...50).map { entry(5000 + $0, message: "in the WAL \($0)") })
        let crashed = directory.file("crashed.spool")
        try FileManager.default.copyItem(atPath: path, toPath: crashed)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: crashed + "-wal")
        try live.close()
        let pages = try #require(bytes(crashed)).count / 4096
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: crashed))
        try handle.seek(toOffset: UInt64(pages / 3 - 1) * 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let damaged = try #require(bytes(crashed))
        let wal = try #require(bytes(crashed + "-wal"))
        #expect(!wal.isEmpty)

        let (spool, reports, aside) = try openRecovering(crashed)
        #expect(reports.topics() == ["spool.store.recovered"])
        #expect(bytes(aside) == damaged)
        #expect(bytes(aside + "-wal") == wal)
        try spool.close()
    }

    /// Another spool's -wal (and, in one variant, its -shm) copied beside ours: SQLite alone would
    /// replay it over our file and show the other spool's entries as ours (quick_check passes).
    @Test(arguments: [false, true])
    func aWALOfAnotherSpoolIsDetectedAtOpenSetAsideAndOursIsSalvaged(withSharedMemory: Bool) throws {
        try closedSpool(path, count: 200)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal") || (bytes(path + "-wal")?.isEmpty ?? true))
        let other = directory.file("other.spool")
        var keepWAL = quiet
        keepWAL.checkpointPages = 100_000
        let theirs = try SpoolStore(path: other, configuration: keepWAL)
        try theirs.append(contentsOf: (1...50).map { entry($0, message: "theirs \($0)") })
        let foreignWAL = try #require(bytes(other + "-wal"))
        try foreignWAL.write(to: URL(fileURLWithPath: path + "-wal"))
        if withSharedMemory { try #require(bytes(other + "-shm")).write(to: URL(fileURLWithPath: path + "-shm")) }
        try theirs.close()
        let ours = try #require(bytes(path))
        // The hazard is real: read through the WAL (read-only: closing never checkpoints), the
        // file shows their entries and passes quick_check.
        #expect(try SpoolFileProbe.entries(path).map(\.message) == (1...50).map { "theirs \($0)" })
        #expect(try Connection(path: path, create: false, readOnly: true).scalarText("PRAGMA quick_check") == "ok")

        // check says so, and repair (on a copy) salvages our 200 entries and none of theirs.
        let copy = directory.file("copy.spool")
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)
        }
        let check = try SpoolStore.check(path: copy)
        #expect(check.status == .corrupt && check.message.contains("belongs to another database"), "\(check.message)")
        let repair = try SpoolStore.repair(path: copy)
        #expect(repair.entries?.saved == 200 && repair.lostNothing, "\(repair)")
        #expect(try expectIntactOursOnly(copy) == Array(1...200))
        #expect(try SpoolStore.stats(path: copy).sinks.map(\.name) == ["loki"])

        // Opening sets our file (untouched: no checkpoint wrote their pages into it) and the
        // foreign WAL aside, and the service continues with a fresh spool.
        let (spool, reports, aside) = try openRecovering()
        #expect(bytes(aside) == ours)
        #expect(bytes(aside + "-wal") == foreignWAL)
        guard case .string(let reason)? = reports.all.first?.context?["reason"] else { Issue.record("no reason reported"); return }
        #expect(reason.contains("belongs to another database"), "\(reason)")
        try spool.append(entry(1, message: "after"))
        #expect(try SQL(path).rows("SELECT topic FROM entries ORDER BY id") == [["spool.store.recovered"], ["test"]])
    }

    @Test func aDamagedSpoolFailsToOpenWhenRecoveryIsOff() throws {
        try closedSpool(path, count: 500)
        try truncateToHalf(path)
        let damaged = bytes(path)
        var configuration = quiet
        configuration.recoverCorruptFile = false
        #expect { _ = try SpoolStore(path: path, configuration: configuration) } throws: { ($0 as? SpoolError)?.code == .corrupt }
        #expect(bytes(path) == damaged)
    }

    @Test func anotherApplicationsDatabaseIsNeverTouched() throws {
        try SpoolFile.createIfMissing(path)
        try SQL(path).connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'a');")
        let before = bytes(path)
        #expect { _ = try SpoolStore(path: path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .notASpool && error!.message.contains("customers")
        }
        #expect(bytes(path) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    // MARK: - Paths

    @Test func aDirectoryPathGetsAClearError() throws {
        #expect { _ = try SpoolStore(path: directory.path) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .io && error!.message.contains("is a directory")
        }
    }

    @Test func aMissingDirectoryGetsAClearError() throws {
        #expect { _ = try SpoolStore(path: directory.file("missing/app.spool")) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .io && error!.message.contains("does not exist")
        }
    }

    @Test func anUnwritableLocationGetsAClearError() throws {
        // /proc refuses new files even to root, where a chmod'ed directory would not.
        #expect { _ = try SpoolStore(path: "/proc/spool-test.spool") } throws: { error in
            let error = error as? SpoolError
            return error?.code == .io && error!.message.contains("cannot create the spool")
        }
    }
}
