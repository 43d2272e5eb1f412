import Foundation
import Testing
@testable import Spool

/// `spool ingest`, run as a child process against real spool files.
@Suite struct CommandIngestTests {
    @Test func textLinesBecomeEntriesInOrderWithTheGivenTopicAndLevel() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        // A CRLF line, an empty line (skipped) and a last line without a newline.
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--topic", "web", "--level", "warn"],
                                          input: "first\nsecond\r\n\nlast without newline")
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stderr.isEmpty)
        let rows = try SpoolFileProbe.entries(spool)
        #expect(rows.map(\.message) == ["first", "second", "last without newline"])
        #expect(rows.allSatisfy { $0.topic == "web" && $0.level == "warning" && $0.context == nil })
        #expect(rows.map(\.id) == rows.map(\.id).sorted())
    }

    @Test func textLinesWithoutATopicGoToTheIngestTopicAtInfo() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let before = SystemClock().now.nanoseconds
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool], input: "hello\n")
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let row = try #require(try SpoolFileProbe.entries(spool).first)
        #expect(row.topic == "ingest" && row.level == "info")
        #expect(row.timestamp >= before && row.timestamp <= SystemClock().now.nanoseconds)
    }

    @Test func jsonTimestampsInEveryUnitAreStoredAsNanoseconds() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = """
            {"message":"seconds","timestamp":1732873200}
            {"message":"fractional seconds","timestamp":1732873200.5}
            {"message":"milliseconds","timestamp":1732873200123}
            {"message":"microseconds","timestamp":1732873200123456}
            {"message":"nanoseconds","timestamp":1732873200123456789}
            {"message":"no timestamp"}

            """
        let before = SystemClock().now.nanoseconds
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        try #require(rows.count == 6)
        #expect(rows[0...4].map(\.timestamp) == [
            1_732_873_200_000_000_000, 1_732_873_200_500_000_000, 1_732_873_200_123_000_000,
            1_732_873_200_123_456_000, 1_732_873_200_123_456_789,
        ])
        #expect(rows[5].timestamp >= before)
    }

    @Test func jsonLevelsTopicsAndContextsAreKeptWithAliasesResolved() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = """
            {"message":"a","level":"warn","topic":"billing.payment","context":{"order":8812,"ok":false}}
            {"message":"b","level":"FATAL"}
            {"message":"c","level":"notice","request":"r-1","context":{"user":"u"}}
            {"message":"d"}

            """
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json", "--topic", "fallback", "--level", "debug"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        #expect(rows.map(\.level) == ["warning", "critical", "notice", "debug"])
        #expect(rows.map(\.topic) == ["billing.payment", "fallback", "fallback", "fallback"])
        // Contexts are stored as JSON objects with sorted keys; unknown fields join the context.
        #expect(rows.map(\.context) == [#"{"ok":false,"order":8812}"#, nil, #"{"request":"r-1","user":"u"}"#, nil])
    }

    @Test func aContextThatIsNotAnObjectIsKeptUnderValueWithAWarning() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json"],
                                          input: #"{"message":"ok"}"# + "\n" + #"{"message":"m","context":[1,"two"]}"# + "\n")
        #expect(outcome.status == 0)
        #expect(outcome.stderrLines.count == 1)
        #expect(outcome.stderr.hasPrefix("spool: warning: line 2:"))
        #expect(try SpoolFileProbe.entries(spool).map(\.context) == [nil, #"{"_value":[1,"two"]}"#])
    }

    @Test(arguments: ["text", "json"])
    func invalidUTF8IsStoredWithReplacementCharacters(format: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        var input = Data()
        if format == "json" { input.append(Data(#"{"message":""#.utf8)) }
        input.append(contentsOf: [0x63, 0x61, 0x66, 0xC3, 0x20, 0x6F, 0x6B, 0xFF])  // "caf", a cut "é", " ok", 0xFF
        if format == "json" { input.append(Data(#""}"#.utf8)) }
        input.append(0x0A)
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", format], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["caf\u{FFFD} ok\u{FFFD}"])
    }

    @Test func aTenMegabyteLineIsStoredCutWithAVisibleMarker() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let size = 10 * 1024 * 1024
        var input = Data(repeating: UInt8(ascii: "x"), count: size)
        input.append(Data("\nafter\n".utf8))
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let rows = try SpoolFileProbe.entries(spool)
        try #require(rows.count == 2)
        #expect(rows[0].message.utf8.count <= SpoolStore.Configuration().maximumMessageBytes)
        #expect(rows[0].message.hasPrefix("xxxxxxxx"))
        #expect(rows[0].message.hasSuffix("…[truncated: \(size) bytes]"))
        #expect(rows[1].message == "after")
    }

    @Test(arguments: ["committed", "fsync", "buffered"])
    func everyDurabilityModeStoresEveryLineBeforeExiting(mode: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = (1...2500).map { "line \($0)\n" }.joined()
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--durability", mode], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == (1...2500).map { "line \($0)" })
    }

    @Test(arguments: ["committed", "buffered"])
    func aLineFromASlowProducerIsCommittedWithoutWaitingForMoreInput(mode: String) async throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let child = try SpoolBinary.Running(["ingest", "--spool", spool, "--durability", mode])
        child.write("first\n")
        // stdin stays open, as with `tail -f`: the line must still show up.
        #expect(try await storedMessages(spool) == ["first"])
        #expect(child.isRunning)
        child.write("second")
        let outcome = try child.finish()
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["first", "second"])
    }

    /// Ctrl-C is how `tail -f | spool ingest` ends: what was read is committed and the store
    /// closed (buffered mode: within its 200 ms otherwise), and the exit is a normal one.
    @Test(arguments: ["committed", "buffered"])
    func sigintCommitsWhatWasReadAndExitsCleanly(mode: String) async throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let child = try SpoolBinary.Running(["ingest", "--spool", spool, "--durability", mode])
        child.write("first\n")
        #expect(try await storedMessages(spool) == ["first"])
        child.write("second\n")
        child.send(SIGINT)
        // stdin stays open: only the signal can end it.
        let exitDeadline = ContinuousClock.now + .seconds(20)
        while child.isRunning, ContinuousClock.now < exitDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!child.isRunning, "spool ingest did not stop on SIGINT")
        let outcome = try child.finish()
        #expect(outcome.status == 0, "\(outcome.stderr)")
        // "second" is stored if it was read before the signal; never half of anything.
        let stored = try SpoolFileProbe.entries(spool).map(\.message)
        #expect(stored == ["first"] || stored == ["first", "second"], "\(stored)")
    }

    /// Tab completion stops at `app.spool-wal` (a compaction leaves it empty): taken for a new
    /// spool, it would have been replaced, line and all, by the next open of `app.spool`.
    @Test(arguments: ["-wal", "-shm", "-journal"])
    func aSpoolsSidecarFileIsRefusedNotTakenForASpool(suffix: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        _ = try SpoolBinary.run(["ingest", "--spool", spool], input: "kept\n")
        let sidecar = spool + suffix
        if !FileManager.default.fileExists(atPath: sidecar) { #expect(FileManager.default.createFile(atPath: sidecar, contents: Data())) }
        let before = try Data(contentsOf: URL(fileURLWithPath: sidecar))
        let outcome = try SpoolBinary.run(["ingest", "--spool", sidecar], input: "lost?\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("\(sidecar) is the") && outcome.stderr.contains("give the spool's own path, \(spool)"), "\(outcome.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: sidecar)) == before)
        // Without the spool beside it, such a name is just a name.
        let alone = scratch.file("other.spool" + suffix)
        #expect(try SpoolBinary.run(["ingest", "--spool", alone], input: "x\n").status == 0)
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["kept"])
    }

    @Test(arguments: ["text", "json", "logfmt"])
    func linesOfOnlySpacesAndTabsAreBlankAndSkipped(format: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", format], input: "msg=a\n   \n\t \n\nmsg=b\n")
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try SpoolFileProbe.entries(spool).count == 2)
    }

    /// A `sqlite3` shell inside `BEGIN IMMEDIATE` keeps the write lock past the busy timeout:
    /// the error names who has the spool open and what to do.
    @Test func aSpoolLockedByAnotherConnectionIsNamedWithTheWayOut() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let config = scratch.file("spool.yaml")
        try "spool:\n  path: \(spool)\n  busy_timeout: 100ms\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try SpoolBinary.run(["ingest", "--config", config], input: "first\n").status == 0)
        let shell = try SQL(spool)
        try shell.connection.execute("BEGIN IMMEDIATE")
        defer { try? shell.connection.execute("ROLLBACK") }
        let outcome = try SpoolBinary.run(["ingest", "--config", config], input: "second\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("another connection holds the spool's write lock (processes with it open: pid \(getpid()) ("), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("COMMIT or ROLLBACK"), "\(outcome.stderr)")
    }

    @Test func ingestIntoADirectoryFailsWithOneClearLine() throws {
        let scratch = TemporaryDirectory()
        let outcome = try SpoolBinary.run(["ingest", "--spool", scratch.path], input: "hello\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderrLines.count == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: \(scratch.path) is a directory"))
    }

    @Test func ingestIntoAnUnwritableDirectoryFailsWithOneClearLine() throws {
        let scratch = TemporaryDirectory()
        // Permission bits do not stop root: there, use a directory no one may create files in.
        let directory = geteuid() == 0 ? "/sys" : scratch.file("locked")
        if geteuid() != 0 {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o500])
        }
        let spool = directory + "/app-\(UUID().uuidString).spool"
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool], input: "hello\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderrLines.count == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: cannot create the spool \(spool)"))
        #expect(!FileManager.default.fileExists(atPath: spool))
    }

    @Test func ingestIntoASpoolFromANewerVersionFailsAndChangesNothing() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        #expect(try SpoolBinary.run(["ingest", "--spool", spool], input: "kept\n").status == 0)
        try SpoolFileProbe.execute(spool, "PRAGMA user_version = 99")
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool], input: "refused\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.hasPrefix("spool: error: ") && outcome.stderr.contains("newer"))
        #expect(try SpoolFileProbe.userVersion(spool) == 99)
        #expect(try SpoolFileProbe.entries(spool).map(\.message) == ["kept"])
    }
}

/// The messages in `spool` once there is at least one, polled (a child process writes them),
/// for at most 20 seconds; empty if none came.
func storedMessages(_ spool: String) async throws -> [String] {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        let seen = (try? SpoolFileProbe.entries(spool).map(\.message)) ?? []
        if !seen.isEmpty { return seen }
        try await Task.sleep(for: .milliseconds(20))
    }
    return []
}
