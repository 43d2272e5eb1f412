import Foundation
import Testing
@testable import Spool

/// `spool tail`, `spool export`, `spool dlq` and `spool sinks`, run as child processes against
/// real spools.
@Suite struct CommandOps1Tests {
    /// 2024-11-29T09:40:00Z.
    static let base: Int64 = 1_732_873_200_000_000_000

    /// A spool holding `count` entries `message 1…count`, an hour apart from `base`, topics
    /// alternating `billing.payment` / `web`, levels alternating info / error.
    private func spool(_ count: Int, in scratch: TemporaryDirectory) throws -> String {
        let path = scratch.file("app.spool")
        let store = try SpoolStore(path: path)
        var entries: [LogEntry] = []
        for index in 1...count {
            let even = index % 2 == 0
            let timestamp: Int64 = Self.base + Int64(index - 1) * 3_600_000_000_000
            entries.append(LogEntry(timestamp: timestamp, level: even ? .error : .info,
                                    topic: even ? "billing.payment" : "web", message: "message \(index)"))
        }
        try store.append(contentsOf: entries)
        try store.close()
        return path
    }

    private func messages(_ ndjson: String) throws -> [String] {
        try ndjson.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(object?["message"] as? String)
        }
    }

    /// Waits at most 20 s for `child` to exit; kills it and returns false if it does not.
    private func waitForExit(_ child: Process) -> Bool {
        let exited = DispatchSemaphore(value: 0)
        Thread.detachNewThread { child.waitUntilExit(); exited.signal() }
        if exited.wait(timeout: .now() + 20) == .timedOut {
            kill(child.processIdentifier, SIGKILL)
            return false
        }
        return true
    }

    // MARK: - tail

    @Test func tailPrintsTheLastEntriesInTheConsoleFormat() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(15, in: scratch)
        let outcome = try SpoolBinary.run(["tail", "--spool", path, "-n", "3"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout == """
            2024-11-29T21:40:00.000Z INFO web: message 13
            2024-11-29T22:40:00.000Z ERROR billing.payment: message 14
            2024-11-29T23:40:00.000Z INFO web: message 15

            """)
    }

    @Test func tailFiltersByTopicPrefixAndMinimumLevelAsJSON() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(10, in: scratch)
        let outcome = try SpoolBinary.run(["tail", "--spool", path, "--json", "--topic", "billing", "--level", "warning", "-n", "2"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try messages(outcome.stdout) == ["message 8", "message 10"])
        #expect(outcome.stdout.hasPrefix(#"{"schema":"spool/log/v1","id":8,"ts":"#))
        let none = try SpoolBinary.run(["tail", "--spool", path, "--topic", "bill"])
        #expect(none.status == 0 && none.stdout.isEmpty)
    }

    @Test func tailWithASinkShowsWhatIsPendingForIt() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(6, in: scratch)
        let store = try SpoolStore(path: path)
        try store.registerSink("loki")
        _ = try store.claim(sink: "loki", owner: "test", maxCount: 4)
        try store.acknowledge(sink: "loki", owner: "test", through: 4, delivered: 4)
        try store.releaseLease(sink: "loki", owner: "test")
        try store.close()
        let outcome = try SpoolBinary.run(["tail", "--spool", path, "--sink", "loki", "--json", "-n", "100"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(try messages(outcome.stdout) == ["message 5", "message 6"])
        let unknown = try SpoolBinary.run(["tail", "--spool", path, "--sink", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no sink named 'nope'"))
    }

    @Test func tailNeverCreatesAMissingSpoolAndRefusesBadUsage() throws {
        let scratch = TemporaryDirectory()
        let missing = try SpoolBinary.run(["tail", "--spool", scratch.file("missing.spool")])
        #expect(missing.status == 1)
        #expect(try scratch.names().isEmpty)
        let badLevel = try SpoolBinary.run(["tail", "--spool", scratch.file("missing.spool"), "--level", "loud"])
        #expect(badLevel.status == 2)
        let noSpool = try SpoolBinary.run(["tail"])
        #expect(noSpool.status == 2)
    }

    @Test func tailFollowPrintsNewEntriesUntilSIGTERM() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(2, in: scratch)
        let outputPath = scratch.file("out.ndjson")
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        let child = Process()
        child.executableURL = SpoolBinary.url
        child.arguments = ["tail", "--spool", path, "--follow", "--json", "-n", "1"]
        child.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        // Bounded polling on what the child wrote.
        func waitForLines(_ count: Int) throws -> [String] {
            let deadline = ContinuousClock.now + .seconds(20)
            var lines: [String] = []
            while ContinuousClock.now < deadline {
                lines = try messages(String(decoding: try Data(contentsOf: URL(fileURLWithPath: outputPath)), as: UTF8.self))
                if lines.count >= count { break }
                usleep(20_000)
            }
            return lines
        }
        #expect(try waitForLines(1) == ["message 2"])
        let store = try SpoolStore(path: path)
        try store.append(LogEntry(timestamp: Self.base, level: .notice, topic: "late", message: "after start"))
        try store.close()
        #expect(try waitForLines(2) == ["message 2", "after start"])
        child.terminate()  // SIGTERM
        #expect(waitForExit(child), "tail --follow kept running after SIGTERM")
        #expect(child.terminationReason == .exit && child.terminationStatus == 0)
    }

    @Test func tailFollowEndsQuietlyWhenStdoutCloses() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(3, in: scratch)
        signal(SIGPIPE, SIG_IGN)
        let child = Process()
        child.executableURL = SpoolBinary.url
        child.arguments = ["tail", "--spool", path, "--follow"]
        let output = Pipe(), errors = Pipe()
        child.standardOutput = output
        child.standardError = errors
        try child.run()
        try output.fileHandleForReading.close()  // `| head` that has read enough
        guard waitForExit(child) else {
            Issue.record("tail --follow kept running after its reader went away")
            return
        }
        #expect(child.terminationReason == .exit && child.terminationStatus == 0)
        #expect(errors.fileHandleForReading.readDataToEndOfFile().isEmpty)
    }

    // MARK: - export

    @Test func exportWritesEntryJSONLinesSelectedByEventTime() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(5, in: scratch)
        let all = try SpoolBinary.run(["export", "--spool", path])
        #expect(all.status == 0, "\(all.stderr)")
        let stored = try SpoolInspector(path: path).lastEntries(10, matching: EntryFilter())
        #expect(all.stdout == stored.map { EntryJSON.line($0) + "\n" }.joined())
        // ISO 8601 since (inclusive), Unix seconds until (exclusive): 10:40 and 11:40, not 12:40.
        let window = try SpoolBinary.run(["export", "--spool", path, "--since", "2024-11-29T10:40:00Z", "--until", "1732884000"])
        #expect(try messages(window.stdout) == ["message 2", "message 3"])
        let store = try SpoolStore(path: path)
        try store.append(LogEntry(timestamp: SystemClock().now.nanoseconds, level: .info, topic: "now", message: "just now"))
        try store.close()
        for since in ["--since=-1h", "--since=30m"] {
            let recent = try SpoolBinary.run(["export", "--spool", path, since])
            #expect(recent.status == 0, "\(recent.stderr)")
            #expect(try messages(recent.stdout) == ["just now"])
        }
        let millis = try SpoolBinary.run(["export", "--spool", path, "--until", "1732876800000"])  // ms: 10:40
        #expect(try messages(millis.stdout) == ["message 1"])
        let bad = try SpoolBinary.run(["export", "--spool", path, "--since", "yesterday"])
        #expect(bad.status == 2)
        // Beyond Int64 nanoseconds: a usage error, not a crash (found in review).
        for out in ["--since=1e10d", "--since=1e300s", "--until=2300-01-01T00:00:00Z"] {
            let result = try SpoolBinary.run(["export", "--spool", path, out])
            #expect(result.status == 2, "\(out): \(result.stderr)")
        }
        // 0 is the epoch: everything since, nothing before. A negative number says why not.
        let everything = try SpoolBinary.run(["export", "--spool", path, "--since", "0"])
        let (exported, before) = (try messages(everything.stdout).count, try messages(all.stdout).count)
        #expect(everything.status == 0 && exported == before + 1, "\(everything.stderr)")
        let nothing = try SpoolBinary.run(["export", "--spool", path, "--until", "0"])
        #expect(nothing.status == 0 && nothing.stdout.isEmpty, "\(nothing.stderr)")
        let negative = try SpoolBinary.run(["export", "--spool", path, "--since=-5"])
        #expect(negative.status == 2 && negative.stderr.contains("-5 is not a Unix time Spool takes: "), "\(negative.stderr)")
    }
}
