import Foundation
import SpoolCrashRig
import SpoolTestServer
import Testing
@testable import Spool

/// The CLI on mistyped paths, users' files, spools in use and forwarders killed with SIGKILL.
@Suite struct CommandForeignFileTests {
    @Test func ingestRefusesAUsersTextFileAndLeavesItExactlyAsItWas() throws {
        let scratch = TemporaryDirectory()
        let notes = scratch.file("notes.txt")
        let text = Data("call the bank\nbuy milk\n".utf8)
        try text.write(to: URL(fileURLWithPath: notes))
        let outcome = try SpoolBinary.run(["ingest", "--spool", notes], input: "a log line\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("\(notes) is not a spool"), "\(outcome.stderr)")
        #expect(try SpoolFileProbe.bytes(notes) == text)
        #expect(try scratch.names() == ["notes.txt"])
    }

    /// A few bytes of an interior page overwritten can send SQLite's seeks past entries that are
    /// still readable, without an error: `export` handed over part of the spool and exited 0.
    /// Now every such damage is refused before anything is written, naming the repair, and a
    /// damage the check does not see leaves every entry exported.
    @Test func exportOfASpoolWithADamagedInteriorPageIsAllOrNothing() throws {
        let scratch = TemporaryDirectory()
        let base = scratch.file("base.spool")
        let count = 50_000
        let lines = (0..<count).map { "line number \($0) é" }.joined(separator: "\n") + "\n"
        #expect(try SpoolBinary.run(["ingest", "--spool", base], input: lines).status == 0)
        let interior = try SQL(base).rows("SELECT pageno FROM dbstat WHERE name = 'entries' AND pagetype = 'internal' AND pageno <> (SELECT rootpage FROM sqlite_master WHERE name = 'entries') ORDER BY pageno")
            .compactMap { $0[0].flatMap { Int($0) } }
        try #require(!interior.isEmpty)
        let damaged = scratch.file("damaged.spool")
        var refused = 0
        for page in interior {
            for offset in stride(from: 2048, to: 4096, by: 256) {
                try? FileManager.default.removeItem(atPath: damaged)
                try FileManager.default.copyItem(atPath: base, toPath: damaged)
                let file = try FileHandle(forWritingTo: URL(fileURLWithPath: damaged))
                try file.seek(toOffset: UInt64((page - 1) * 4096 + offset))
                try file.write(contentsOf: Data(repeating: 0xDE, count: 64))
                try file.close()
                let outcome = try SpoolBinary.run(["export", "--spool", damaged], timeout: .seconds(60))
                let exported = outcome.stdout.split(separator: "\n").count
                if outcome.status == 0 {
                    #expect(exported == count, "page \(page) at \(offset): \(exported) of \(count) entries exported, exit 0")
                    if exported != count { return }
                } else {
                    refused += 1
                    #expect(outcome.stdout.isEmpty && outcome.stderr.contains("nothing was exported: run `spool check --repair"), "\(outcome.stderr)")
                    #expect(outcome.stderrLines.count == 1, "one line: \(outcome.stderr)")
                }
            }
        }
        #expect(refused > 0)
    }

    /// Reading commands on `app.spool-wal` or `-shm` (where tab completion stops) name the
    /// spool that was meant, as the writing commands do, instead of "holds no spool yet".
    @Test(arguments: [
        ["stats"], ["tail"], ["export"], ["dlq", "list"], ["sinks", "list"], ["check"], ["top", "--once"],
    ])
    func aReadingCommandOnASpoolsSidecarNamesTheSpool(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        #expect(try SpoolBinary.run(["ingest", "--spool", spool], input: "kept\n").status == 0)
        for suffix in ["-wal", "-shm"] {
            let sidecar = spool + suffix
            if !FileManager.default.fileExists(atPath: sidecar) { #expect(FileManager.default.createFile(atPath: sidecar, contents: Data())) }
            let outcome = try SpoolBinary.run(command + ["--spool", sidecar], timeout: .seconds(30))
            #expect(outcome.status == 1, "\(command) \(suffix): \(outcome.stdout)")
            #expect(outcome.stderr.contains("\(sidecar) is the") && outcome.stderr.contains("give the spool's own path, \(spool)"),
                    "\(command) \(suffix): \(outcome.stderr)")
        }
    }

    /// Every reading command on a path where no spool exists: an error naming it, no new file.
    @Test(arguments: [
        ["stats"], ["tail"], ["export"], ["dlq", "list"], ["sinks", "list"], ["check"],
        ["forward", "--http", "http://127.0.0.1:9/ingest", "--until-empty"],
    ])
    func aReadingCommandOnAMissingSpoolIsAnErrorAndCreatesNothing(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let missing = scratch.file("mistyped.spool")
        let outcome = try SpoolBinary.run(command + ["--spool", missing], timeout: .seconds(30))
        #expect(outcome.status == 1, "\(command): \(outcome.stderr)")
        #expect(outcome.stderr.contains("no spool at \(missing)"), "\(command): \(outcome.stderr)")
        #expect(try scratch.names() == [], "\(command)")
    }

    /// Under a directory that does not exist either: still "no spool", not "cannot create".
    @Test(arguments: [["stats"], ["check"], ["compact"], ["migrate"], ["dlq", "purge", "--yes"]])
    func aCommandOnAPathInAMissingDirectoryIsNoSpool(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let missing = scratch.file("nodir/app.spool")
        let outcome = try SpoolBinary.run(command + ["--spool", missing], timeout: .seconds(30))
        #expect(outcome.status == 1, "\(command): \(outcome.stderr)")
        #expect(outcome.stderr.contains("no spool at \(missing)") && !outcome.stderr.contains("cannot create"), "\(command): \(outcome.stderr)")
        #expect(try scratch.names() == [], "\(command)")
    }

    /// The same commands on a user's text file: "not a spool", naming it; the file untouched.
    @Test(arguments: [
        ["stats"], ["tail"], ["export"], ["dlq", "list"], ["sinks", "list"], ["check"], ["check", "--repair"],
        ["compact"], ["migrate"], ["forward", "--http", "http://127.0.0.1:9/ingest", "--until-empty"],
    ])
    func aCommandOnAUsersTextFileSaysItIsNotASpoolAndLeavesIt(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let notes = scratch.file("notes.txt")
        let text = Data("call the bank\nbuy milk\n".utf8)
        try text.write(to: URL(fileURLWithPath: notes))
        let outcome = try SpoolBinary.run(command + ["--spool", notes], timeout: .seconds(30))
        #expect(outcome.status == 1, "\(command): \(outcome.stderr)")
        #expect(outcome.stderr.contains("\(notes) is not a spool"), "\(command): \(outcome.stderr)")
        #expect(try SpoolFileProbe.bytes(notes) == text)
        #expect(try scratch.names() == ["notes.txt"], "\(command)")
    }

    @Test func aOneCharacterRelativeSpoolPathWorks() throws {
        let scratch = TemporaryDirectory()
        let process = Process()
        process.executableURL = SpoolBinary.url
        process.arguments = ["ingest", "--spool", "a"]
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        let input = Pipe()
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data("one line\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(try SpoolFileProbe.entries(scratch.file("a")).map(\.message) == ["one line"])
    }

    /// Another process with the file open but nothing read yet (a `sqlite3` shell before its
    /// first query on it) holds no SQLite lock; it is refused all the same, else it would go on
    /// reading the file set aside.
    @Test(arguments: ["inspect", "open"])
    func checkRepairRefusesASpoolAnotherProcessHasOpenAndNamesIt(holding: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = (1...20000).map { "entry number \($0)\n" }.joined()
        try #require(try SpoolBinary.run(["ingest", "--spool", spool], input: input).status == 0)
        let reader = try Child("SpoolTestChild", [holding, spool])
        defer { if reader.process.isRunning { reader.kill() } }
        #expect(reader.readLine() == "open")
        // Overwrite a page in the middle of the entries table.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: spool))
        try handle.seek(toOffset: 4096 * 20)
        try handle.write(contentsOf: Data([0x0D] + [UInt8](repeating: 0xFF, count: 4000)))
        try handle.close()
        let before = try SpoolFileProbe.bytes(spool)
        let outcome = try SpoolBinary.run(["check", "--repair", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("is open in another process (pid \(reader.process.processIdentifier)"), "\(outcome.stderr)")
        #expect(try SpoolFileProbe.bytes(spool) == before)
        #expect(!(try scratch.names()).contains { $0.contains(".corrupt-") || $0.contains(".repairing-") })
        // With the reader gone, the repair runs.
        #expect(reader.finish() == 0)
        let repaired = try SpoolBinary.run(["check", "--repair", "--spool", spool])
        #expect(repaired.status == 0, "\(repaired.stderr)")
    }

    /// `kill -9` of `spool forward`: a restart on the same host does not wait out the lease.
    @Test func aForwarderRestartedAfterSIGKILLTakesTheSinkAtOnce() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let first = try SpoolBinary.Running(rig.base + ["--http", server.url(path: "/ingest")])
            try await server.waitForRequests(1, timeout: .seconds(10))
            first.send(SIGKILL)
            _ = try first.finish(timeout: .seconds(10))
            try rig.fill(5..<10)
            // No --wait-for-lease: the 30 s lease of a provably dead holder does not stop it.
            let second = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/ingest"), "--until-empty"], timeout: .seconds(30))
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stderr.contains("lease_taken_over") && second.stderr.contains("pid \(first.processIdentifier) on "), "\(second.stderr)")
            #expect(try rig.stats().entries == 0)
        }
    }
}
