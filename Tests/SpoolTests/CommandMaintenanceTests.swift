import Foundation
import Testing
@testable import Spool

/// `spool stats`, `spool check`, `spool migrate` and the exit statuses, run as a child process.
@Suite struct CommandMaintenanceTests {
    /// A spool with three entries and a sink that has not sent any of them.
    private func spoolWithAPendingSink(in scratch: TemporaryDirectory) throws -> String {
        let spool = scratch.file("app.spool")
        let ingest = try SpoolBinary.run(["ingest", "--spool", spool], input: "one\ntwo\nthree\n")
        try #require(ingest.status == 0, "\(ingest.stderr)")
        let store = try SpoolStore(path: spool)
        try store.registerSink("loki")
        try store.close()
        return spool
    }

    // MARK: - stats

    @Test func statsPrintsATableOfEntriesSinksAndSizes() throws {
        let scratch = TemporaryDirectory()
        let spool = try spoolWithAPendingSink(in: scratch)
        let outcome = try SpoolBinary.run(["stats", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.contains { $0.hasPrefix("entries 3 (") })
        #expect(lines.contains("dead letters 0"))
        #expect(lines.contains { $0.hasPrefix("schema version \(SpoolStore.latestSchemaVersion) ") })
        #expect(lines.contains("sink pending oldest pending delivered dead-lettered lease"))
        #expect(lines.contains { $0.hasPrefix("loki 3 ") && $0.hasSuffix(" 0 0 free") })
    }

    @Test func statsAsJSONDecodesToSpoolStats() throws {
        let scratch = TemporaryDirectory()
        let spool = try spoolWithAPendingSink(in: scratch)
        let outcome = try SpoolBinary.run(["stats", "--spool", spool, "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let stats = try CommandJSON.decode(SpoolStats.self, outcome.stdout)
        #expect(stats.entries == 3)
        #expect(stats.schemaVersion == SpoolStore.latestSchemaVersion)
        #expect(stats.sinks.map(\.name) == ["loki"])
        #expect(stats.sinks.first?.pending == 3)
        #expect(stats.fileBytes > 0)
    }

    @Test func statsOnAMissingFileFailsWithoutCreatingIt() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("missing.spool")
        let outcome = try SpoolBinary.run(["stats", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stderrLines == ["spool: error: no spool at \(spool): the file does not exist (nothing was created)"])
        #expect(try scratch.names().isEmpty)
    }

    // MARK: - check

    @Test func checkPassesASoundSpool() throws {
        let scratch = TemporaryDirectory()
        let spool = try spoolWithAPendingSink(in: scratch)
        let outcome = try SpoolBinary.run(["check", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("ok: "))
        let json = try SpoolBinary.run(["check", "--spool", spool, "--json"])
        let report = try CommandJSON.decode(SpoolStore.CheckReport.self, json.stdout)
        #expect(report.status == .ok && report.integrity == "ok" && report.schemaVersion == SpoolStore.latestSchemaVersion)
    }

    @Test func checkRefusesAFileThatIsNotSQLiteAndLeavesItWhereItIs() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("garbage.spool")
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: URL(fileURLWithPath: spool))
        let before = try SpoolFileProbe.bytes(spool)
        let outcome = try SpoolBinary.run(["check", "--spool", spool, "--json"])
        #expect(outcome.status == 1)
        let report = try CommandJSON.decode(SpoolStore.CheckReport.self, outcome.stdout)
        #expect(report.status == .notASpool)
        #expect(outcome.stderrLines.count == 1 && outcome.stderr.hasPrefix("spool: error: not a spool: "))
        #expect(try SpoolFileProbe.bytes(spool) == before)
        #expect(try scratch.names() == ["garbage.spool"])
    }

    @Test func checkFindsDamageInsideASpool() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = (1...20000).map { "entry number \($0)\n" }.joined()
        try #require(try SpoolBinary.run(["ingest", "--spool", spool], input: input).status == 0)
        // Overwrite a page in the middle of the entries table.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: spool))
        try handle.seek(toOffset: 4096 * 20)
        try handle.write(contentsOf: Data([0x0D] + [UInt8](repeating: 0xFF, count: 4000)))
        try handle.close()
        let before = try SpoolFileProbe.bytes(spool)
        let outcome = try SpoolBinary.run(["check", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: damaged: "))
        #expect(try SpoolFileProbe.bytes(spool) == before)
        #expect(!(try scratch.names()).contains { $0.contains("corrupt") })
    }

    @Test func checkRefusesTheDatabaseOfAnotherApplication() throws {
        let scratch = TemporaryDirectory()
        let path = scratch.file("users.db")
        try SpoolFileProbe.execute(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')")
        let outcome = try SpoolBinary.run(["check", "--spool", path])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: not a spool: ") && outcome.stderr.contains("another application"))
    }

    @Test func checkRefusesASpoolFromANewerVersion() throws {
        let scratch = TemporaryDirectory()
        let spool = try spoolWithAPendingSink(in: scratch)
        try SpoolFileProbe.execute(spool, "PRAGMA user_version = 99")
        let outcome = try SpoolBinary.run(["check", "--spool", spool, "--json"])
        #expect(outcome.status == 1)
        let report = try CommandJSON.decode(SpoolStore.CheckReport.self, outcome.stdout)
        #expect(report.status == .newerSchema && report.schemaVersion == 99 && report.integrity == "ok")
        #expect(try SpoolFileProbe.userVersion(spool) == 99)
    }

    @Test func checkCallsAnOlderSchemaAProblemAndSuggestsMigrate() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("old.spool")
        try SpoolFileProbe.makeVersionOneSpool(spool)
        let outcome = try SpoolBinary.run(["check", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: older schema: ") && outcome.stderr.contains("spool migrate --spool \(spool)"))
        #expect(try SpoolFileProbe.userVersion(spool) == 1)
    }

    @Test func checkOnAMissingFileFailsWithoutCreatingIt() throws {
        let scratch = TemporaryDirectory()
        let outcome = try SpoolBinary.run(["check", "--spool", scratch.file("missing.spool")])
        #expect(outcome.status == 1)
        #expect(try scratch.names().isEmpty)
    }

    // MARK: - migrate

    @Test func migrateUpgradesAVersionOneSpoolWithItsDataIntact() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("old.spool")
        try SpoolFileProbe.makeVersionOneSpool(spool)
        let outcome = try SpoolBinary.run(["migrate", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout == "\(spool): migrated schema version 1 → \(SpoolStore.latestSchemaVersion)\n")
        #expect(try SpoolFileProbe.userVersion(spool) == Int64(SpoolStore.latestSchemaVersion))
        #expect(try SpoolFileProbe.entries(spool) == [StoredRow(id: 1, timestamp: 1_732_873_200_000_000_000, level: "info",
                                                                  topic: "old", message: "from version 1", context: #"{"a":1}"#)])
        #expect(try SpoolBinary.run(["check", "--spool", spool]).status == 0)
        let again = try SpoolBinary.run(["migrate", "--spool", spool])
        #expect(again.status == 0 && again.stdout.contains("nothing to do"))
    }

    @Test func migrateRefusesASpoolFromANewerVersionAndLeavesItUnchanged() throws {
        let scratch = TemporaryDirectory()
        let spool = try spoolWithAPendingSink(in: scratch)
        try SpoolFileProbe.execute(spool, "PRAGMA user_version = 99")
        let before = try SpoolFileProbe.bytes(spool)
        let outcome = try SpoolBinary.run(["migrate", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stderrLines.count == 1 && outcome.stderr.contains("newer"))
        #expect(try SpoolFileProbe.bytes(spool) == before)
    }

    // MARK: - Usage

    @Test func usageErrorsExitWithTwo() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        for arguments in [["ingest", "--spool", spool, "--format", "xml"], ["ingest", "--spool", spool, "--level", "loud"],
                          ["stats"], ["no-such-command"], ["stats", "--spool", spool, "--bogus"]] {
            let outcome = try SpoolBinary.run(arguments)
            #expect(outcome.status == 2, "\(arguments)")
            #expect(outcome.stderr.hasPrefix("spool: error: "), "\(arguments): \(outcome.stderr)")
        }
        #expect(try scratch.names().isEmpty)
    }

    @Test func theSpoolPathCanComeFromTheEnvironment() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("env.spool")
        let outcome = try SpoolBinary.run(["ingest"], input: "from the environment\n", environment: ["SPOOL_PATH": spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["from the environment"])
    }

    @Test func helpDescribesEachCommandWithAnExample() throws {
        for command in ["ingest", "stats", "check", "migrate"] {
            let outcome = try SpoolBinary.run([command, "--help"])
            #expect(outcome.status == 0)
            #expect(outcome.stdout.contains("Example") && outcome.stdout.contains("spool \(command) --spool"), "\(command)")
        }
    }
}
