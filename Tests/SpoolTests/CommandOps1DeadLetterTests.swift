import Foundation
import Testing
@testable import Spool

/// `spool dlq` and `spool sinks`, run as child processes against real spools.
@Suite struct CommandOps1DeadLetterTests {
    static let base: Int64 = 1_732_873_200_000_000_000

    /// Entries `message 1…count` and two sinks: `a` delivered everything but dead-lettered
    /// `deadLettered` (status 400); `b` delivered through `bThrough`.
    private func spool(_ count: Int, deadLettered: [Int64], bThrough: Int64, in scratch: TemporaryDirectory) throws -> String {
        let path = scratch.file("app.spool")
        let store = try SpoolStore(path: path)
        var entries: [LogEntry] = []
        for index in 1...count {
            let n = Int64(index)
            entries.append(LogEntry(timestamp: Self.base + n, level: .info, topic: "t", message: "message \(index)", context: ["n": .int(n)]))
        }
        try store.append(contentsOf: entries)
        try store.registerSink("a")
        try store.registerSink("b")
        let batch = try store.claim(sink: "a", owner: "test")
        try store.acknowledge(sink: "a", owner: "test", through: batch.lastID, delivered: batch.entries.count - deadLettered.count,
                              deadLetters: deadLettered.map { DeadLetter(entryID: $0, status: 400, reason: "bad entry \($0)", attempts: 2) })
        try store.releaseLease(sink: "a", owner: "test")
        if bThrough > 0 {
            _ = try store.claim(sink: "b", owner: "test")
            try store.acknowledge(sink: "b", owner: "test", through: bThrough, delivered: Int(bThrough))
            try store.releaseLease(sink: "b", owner: "test")
        }
        try store.close()
        return path
    }

    /// Everything `sink` receives from now on, claimed and acknowledged batch by batch.
    private func drain(_ store: SpoolStore, _ sink: String) throws -> [String] {
        var received: [String] = []
        while true {
            let batch = try store.claim(sink: sink, owner: "drain", maxCount: 2)
            guard !batch.entries.isEmpty else { break }
            received += batch.entries.map(\.message)
            try store.acknowledge(sink: sink, owner: "drain", through: batch.lastID, delivered: batch.entries.count)
        }
        try store.releaseLease(sink: sink, owner: "drain")
        return received
    }

    // MARK: - list and export

    /// A sink the spool has never heard of, or ids it does not have, are errors in every dlq
    /// command (a typo in a script must not pass for "nothing matched"), and change nothing. A
    /// real sink with nothing selected is not.
    @Test(arguments: [["list"], ["requeue"], ["purge", "--yes"]])
    func aMistypedSinkOrIdIsAnErrorNotNothingMatched(command: [String]) throws {
        let scratch = TemporaryDirectory()
        let path = try spool(4, deadLettered: [2, 3], bThrough: 4, in: scratch)
        let sink = try SpoolBinary.run(["dlq"] + command + ["--spool", path, "--sink", "aa"])
        #expect(sink.status == 1, "\(sink.stdout)")
        #expect(sink.stderr == "spool: error: no sink named 'aa' in \(path), and no dead letters of one (sinks: a, b)\n")
        let ids = try SpoolBinary.run(["dlq"] + command + ["--spool", path, "--id", "1", "--id", "99"])
        #expect(ids.status == 1, "\(ids.stdout)")
        #expect(ids.stderr.contains("no dead letter with id 99 in \(path)"), "\(ids.stderr)")
        let both = try SpoolBinary.run(["dlq"] + command + ["--spool", path, "--sink", "a", "--id", "99"])
        #expect(both.status == 1 && both.stderr.contains("no dead letter with id 99"), "\(both.stderr)")
        #expect(try SQL(path).int("SELECT count(*) FROM dead_letters") == 2)
        let none = try SpoolBinary.run(["dlq"] + command + ["--spool", path, "--sink", "b"])
        #expect(none.status == 0, "\(none.stderr)")
    }

    @Test func listShowsDeadLettersAsATableAndAsJSONLines() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(4, deadLettered: [2, 3], bThrough: 4, in: scratch)
        let table = try SpoolBinary.run(["dlq", "list", "--spool", path])
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(rows == [
            "id sink entry time status attempts topic reason",
            "1 a 2 2024-11-29T09:40:00.000Z 400 2 t bad entry 2",
            "2 a 3 2024-11-29T09:40:00.000Z 400 2 t bad entry 3",
        ])
        let json = try SpoolBinary.run(["dlq", "list", "--spool", path, "--json", "--id", "2"])
        #expect(json.stdout.hasPrefix(#"{"schema":"spool/log/v1","id":3,"ts":"2024-11-29T09:40:00.000Z","ts_ns":1732873200000000003,"level":"info","topic":"t","message":"message 3","context":{"n":3},"dead_letter":{"id":2,"sink":"a","status":400,"reason":"bad entry 3","attempts":2,"failed":""#))
        #expect(json.stdout.hasSuffix("}}\n") && json.stdout.split(separator: "\n").count == 1)
        let none = try SpoolBinary.run(["dlq", "list", "--spool", path, "--status", "500"])
        #expect(none.status == 0 && none.stdout == "no dead letters\n")
    }

    @Test func exportOfDeadLettersCarriesStatusReasonSinkAndAttempts() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(4, deadLettered: [2], bThrough: 4, in: scratch)
        let outcome = try SpoolBinary.run(["export", "--spool", path, "--dead-letters", "--sink", "a"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "message 2")
        let letter = try #require(object["dead_letter"] as? [String: Any])
        #expect(letter["sink"] as? String == "a" && letter["status"] as? Int == 400)
        #expect(letter["reason"] as? String == "bad entry 2" && letter["attempts"] as? Int == 2)
        let otherSink = try SpoolBinary.run(["export", "--spool", path, "--dead-letters", "--sink", "b"])
        #expect(otherSink.status == 0 && otherSink.stdout.isEmpty)
    }

    // MARK: - requeue

    @Test func requeueSendsDeadLettersToTheirSinkOnceInOrderAndNeverToTheOther() throws {
        let scratch = TemporaryDirectory()
        // b is behind (it has 4…6 to send) when a's dead letters 2 and 4 are requeued.
        let path = try spool(6, deadLettered: [4, 2], bThrough: 3, in: scratch)
        do {
            let store = try SpoolStore(path: path)
            try store.append(LogEntry(timestamp: Self.base + 7, level: .info, topic: "t", message: "message 7"))
            try store.close()
        }
        let outcome = try SpoolBinary.run(["dlq", "requeue", "--spool", path, "--sink", "a", "--json"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout == #"{"entry_ids":[8,9],"requeued":2}"# + "\n", "\(outcome.stdout)")
        let sql = try SQL(path)
        #expect(try sql.int("SELECT count(*) FROM dead_letters") == 0)
        #expect(try sql.rows("SELECT id, message, only_sink, ts_ns FROM entries WHERE only_sink IS NOT NULL ORDER BY id") == [
            ["8", "message 2", "a", "\(Self.base + 2)"], ["9", "message 4", "a", "\(Self.base + 4)"],
        ])
        let store = try SpoolStore(path: path)
        #expect(try drain(store, "a") == ["message 7", "message 2", "message 4"])
        #expect(try drain(store, "b") == ["message 4", "message 5", "message 6", "message 7"])
        #expect(try drain(store, "a").isEmpty && drain(store, "b").isEmpty)
        // Both passed everything: nothing is left behind.
        #expect(try store.stats().entries == 0)
        try store.close()
    }

    @Test func requeueMovesACaughtUpSinkPastTheRequeuedEntriesAtOnce() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(3, deadLettered: [1, 2, 3], bThrough: 3, in: scratch)
        let outcome = try SpoolBinary.run(["dlq", "requeue", "--spool", path, "--id", "1", "--id", "3"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout == "requeued 2 dead letters as entries 4–5\n")
        let stats = try SpoolBinary.run(["sinks", "list", "--spool", path, "--json"])
        let sinks = try CommandJSON.decodeLines(SpoolStats.Sink.self, stats.stdout)
        #expect(sinks.map(\.name) == ["a", "b"])
        #expect(sinks.map(\.position) == [3, 5])
        #expect(sinks.map(\.pending) == [2, 0])
        let store = try SpoolStore(path: path)
        #expect(try drain(store, "a") == ["message 1", "message 3"])
        #expect(try store.stats().entries == 0)
        #expect(try store.stats().deadLetters == 1)
        try store.close()
    }

    @Test func requeueRefusesDeadLettersOfARemovedSinkAndChangesNothing() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(2, deadLettered: [1], bThrough: 2, in: scratch)
        #expect(try SpoolBinary.run(["sinks", "remove", "--spool", path, "a"]).status == 0)
        let outcome = try SpoolBinary.run(["dlq", "requeue", "--spool", path])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("sink 'a'") && outcome.stderr.contains("no sink of that name is registered"))
        #expect(try SQL(path).int("SELECT count(*) FROM dead_letters") == 1)
    }

    // MARK: - purge

    @Test func purgeWithoutATerminalDeletesTheSelectedDeadLetters() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(4, deadLettered: [1, 2, 3], bThrough: 4, in: scratch)
        // The test's stdin is a pipe: not a terminal, so purge does not ask.
        let one = try SpoolBinary.run(["dlq", "purge", "--spool", path, "--id", "2"])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(one.stdout == "purged 1 dead letter\n")
        let rest = try SpoolBinary.run(["dlq", "purge", "--spool", path, "--sink", "a", "--yes", "--json"])
        #expect(rest.status == 0)
        #expect(rest.stdout == #"{"purged":2}"# + "\n")
        #expect(try SQL(path).int("SELECT count(*) FROM dead_letters") == 0)
        let missing = try SpoolBinary.run(["dlq", "purge", "--spool", scratch.file("none.spool"), "--yes"])
        #expect(missing.status == 1)
        #expect(!(try scratch.names()).contains("none.spool"))
    }

    // MARK: - sinks

    @Test func sinksListShowsPositionsAndRemoveUnblocksDeletion() throws {
        let scratch = TemporaryDirectory()
        // a delivered all 5; b none, so all 5 stay.
        let path = try spool(5, deadLettered: [], bThrough: 0, in: scratch)
        let list = try SpoolBinary.run(["sinks", "list", "--spool", path])
        #expect(list.status == 0, "\(list.stderr)")
        let rows = list.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows == ["sink position pending delivered dead-lettered lease", "a 5 0 5 0 free", "b 0 5 0 0 free"])
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 5)
        let removed = try SpoolBinary.run(["sinks", "remove", "--spool", path, "b"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout == "removed sink 'b'; 5 entries no other sink needed were deleted\n")
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        let again = try SpoolBinary.run(["sinks", "remove", "--spool", path, "b"])
        #expect(again.status == 1 && again.stderr.contains("no sink named 'b'"))
        #expect(try SpoolBinary.run(["sinks", "remove", "--spool", path]).status == 2)
    }

    @Test func sinksRemoveRefusesASinkAForwarderHolds() throws {
        let scratch = TemporaryDirectory()
        let path = try spool(2, deadLettered: [], bThrough: 0, in: scratch)
        let store = try SpoolStore(path: path)
        try store.acquireLease(sink: "b", owner: "spool forward pid 1", duration: .seconds(300))
        try store.close()
        let outcome = try SpoolBinary.run(["sinks", "remove", "--spool", path, "b"])
        #expect(outcome.status == 1 && outcome.stderr.contains("stop that forwarder first"))
    }
}
