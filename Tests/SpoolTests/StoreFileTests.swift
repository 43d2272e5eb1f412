import Foundation
import Testing
@testable import Spool

@Suite struct StoreFileTests {
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

    @Test func aFileThatIsNotADatabaseIsSetAsideAndAFreshSpoolReportsIt() throws {
        let garbage = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        FileManager.default.createFile(atPath: path, contents: garbage)
        let reports = Reports()
        var configuration = SpoolStore.Configuration()
        configuration.report = reports.record
        let spool = try SpoolStore(path: path, configuration: configuration)
        let aside = try #require(spool.recoveredFrom)
        #expect(aside.hasPrefix(path + ".corrupt-"))
        #expect(bytes(aside) == garbage)
        #expect(reports.topics() == ["spool.store.recovered"])
        let stored = try SQL(path).rows("SELECT level, topic, json_extract(context, '$.moved_to') FROM entries")
        #expect(stored == [["error", "spool.store.recovered", aside]])
        try spool.append(entry(1))
    }

    @Test func aTruncatedSpoolIsDetectedAndSetAside() throws {
        do {
            let spool = try SpoolStore(path: path)
            try spool.append(contentsOf: (0..<3000).map { entry($0, message: String(repeating: "m", count: 300)) })
            try spool.close()
        }
        try SQL(path).connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber).intValue
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        let spool = try SpoolStore(path: path, configuration: { var c = SpoolStore.Configuration(); c.report = { _ in }; return c }())
        #expect(spool.recoveredFrom != nil)
    }

    @Test func aDamagedFileFailsToOpenWhenRecoveryIsOff() throws {
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 8192))
        var configuration = SpoolStore.Configuration()
        configuration.recoverCorruptFile = false
        #expect { _ = try SpoolStore(path: path, configuration: configuration) } throws: { ($0 as? SpoolError)?.code == .corrupt }
        #expect(bytes(path) == Data(repeating: 0x41, count: 8192))
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
