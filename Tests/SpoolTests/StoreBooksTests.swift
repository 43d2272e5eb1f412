import Foundation
import SpoolTesting
import Testing
@testable import Spool

/// Per-sink books (accepted = delivered + dead-lettered + dropped + pending) and delivery
/// latency, on real spool files.
@Suite struct StoreBooksTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    func books(_ spool: SpoolStore) throws -> [String: SinkBooks] {
        var books: [String: SinkBooks] = [:]
        for sink in try spool.stats().sinks { books[sink.name] = sink.books }
        return books
    }

    func expectBalanced(_ spool: SpoolStore, _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for (name, book) in try books(spool) {
            #expect(book.balances, "\(name): \(book) — \(comment)", sourceLocation: sourceLocation)
        }
    }

    func deliverAll(_ spool: SpoolStore, sink: String, owner: String = "a") throws {
        while true {
            let batch = try spool.claim(sink: sink, owner: owner, maxCount: 100)
            if batch.entries.isEmpty { return }
            try spool.acknowledge(sink: sink, owner: owner, through: batch.lastID, delivered: batch.entries.count)
        }
    }

    @Test func booksBalanceThroughDeliveriesDeadLettersRequeuesAndALateSink() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.registerSink("otlp")
        try spool.append(contentsOf: (1...10).map { entry($0) })
        try expectBalanced(spool, "after appends")
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 10, delivered: 0, deadLettered: 0, dropped: 0, pending: 10))

        let batch = try spool.claim(sink: "loki", owner: "a", maxCount: 6)
        let letters = [DeadLetter(entryID: 2, status: 400, reason: "bad", attempts: 1), DeadLetter(entryID: 5, status: 400, reason: "bad", attempts: 1)]
        try spool.acknowledge(sink: "loki", owner: "a", through: batch.lastID, delivered: 4, deadLetters: letters)
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 10, delivered: 4, deadLettered: 2, dropped: 0, pending: 4))
        try expectBalanced(spool, "after dead letters")

        // Requeued dead letters are accepted again by their own sink, never by the others.
        try spool.requeueDeadLetters(matching: DeadLetterFilter(sink: "loki"))
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 12, delivered: 4, deadLettered: 2, dropped: 0, pending: 6))
        #expect(try books(spool)["otlp"] == SinkBooks(accepted: 10, delivered: 0, deadLettered: 0, dropped: 0, pending: 10))
        try expectBalanced(spool, "after requeue")

        // A sink registered now accepts what is stored from its start, not the others' rows.
        try spool.registerSink("late")
        try expectBalanced(spool, "after a late registration")
        #expect(try books(spool)["late"]?.accepted == 10)

        try deliverAll(spool, sink: "loki")
        try deliverAll(spool, sink: "otlp")
        try deliverAll(spool, sink: "late")
        try spool.append(entry(11))
        try expectBalanced(spool, "after draining and one more")
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 13, delivered: 10, deadLettered: 2, dropped: 0, pending: 1))
        #expect(try books(spool)["otlp"] == SinkBooks(accepted: 11, delivered: 10, deadLettered: 0, dropped: 0, pending: 1))
        #expect(try books(spool)["late"] == SinkBooks(accepted: 11, delivered: 10, deadLettered: 0, dropped: 0, pending: 1))
    }

    @Test func entriesDroppedAtTheBoundCountForEverySinkThatHadNotPassedThem() throws {
        var configuration = SpoolStore.Configuration()
        configuration.maximumBytes = 256 * 1024
        configuration.overflowPolicy = .dropOldest
        let spool = try SpoolStore(path: path, configuration: configuration)
        try spool.registerSink("fast")
        try spool.registerSink("slow")
        let padding = String(repeating: "x", count: 500)
        // `fast` keeps up with part of it and has a batch in flight when the drops come.
        try spool.append(contentsOf: (1...100).map { entry($0, message: "entry \($0) " + padding) })
        try deliverAll(spool, sink: "fast")
        try spool.append(contentsOf: (101...200).map { entry($0, message: "entry \($0) " + padding) })
        let claimed = try spool.claim(sink: "fast", owner: "a", maxCount: 1000)
        for start in stride(from: 201, through: 2000, by: 100) {
            try spool.append(contentsOf: (start..<(start + 100)).map { entry($0, message: "entry \($0) " + padding) })
        }
        let dropped = try #require(try SQL(path).int("SELECT sum(count) FROM drops"))
        #expect(dropped > 200)
        // The in-flight batch was dropped before its acknowledgement: counted once, as dropped,
        // also the two the destination rejected (no dead letter of an entry no longer stored).
        let letters = claimed.entries.prefix(2).map { DeadLetter(entryID: $0.id, status: 400, reason: "bad", attempts: 1) }
        let acknowledged = try spool.acknowledge(sink: "fast", owner: "a", through: claimed.lastID, delivered: claimed.entries.count - 2,
                                                 deadLetters: letters)
        #expect(acknowledged.deadLetterIDs.isEmpty && acknowledged.deadLettered == 0)
        try expectBalanced(spool, "after drops")
        let fast = try #require(try books(spool)["fast"])
        let slow = try #require(try books(spool)["slow"])
        #expect(fast.accepted == 2000 && slow.accepted == 2000)
        #expect(slow.dropped == dropped)
        #expect(fast.delivered == 100)
        #expect(fast.dropped == dropped - 100)
    }

    @Test func theBooksCountTheRowsAnAcknowledgementPassesNotTheCallersFigure() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...5).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        let result = try spool.acknowledge(sink: "loki", owner: "a", through: 5, delivered: 7, droppedByDestination: 1)
        #expect(result.delivered == 4 && result.dropped == 1)
        // The ids stored as dead letters come back, for the reports.
        try spool.append(contentsOf: [entry(6), entry(7)])
        _ = try spool.claim(sink: "loki", owner: "a")
        let lettered = try spool.acknowledge(sink: "loki", owner: "a", through: 7, delivered: 1,
                                             deadLetters: [DeadLetter(entryID: 6, status: 400, reason: "bad", attempts: 1)])
        #expect(lettered.deadLetterIDs == [6] && lettered.deadLettered == 1)
        // A repeated acknowledgement passes nothing new.
        #expect(try spool.acknowledge(sink: "loki", owner: "a", through: 7, delivered: 5).delivered == 0)
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 7, delivered: 5, deadLettered: 1, dropped: 1, pending: 0))
    }

    @Test func latencyRunsFromEachEntrysCommitToTheAcknowledgementThatPassedIt() throws {
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        let spool = try SpoolStore(path: path, configuration: configuration)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...3).map { entry($0) })
        clock.advance(by: .seconds(2))
        try spool.append(contentsOf: (4...5).map { entry($0) })
        clock.advance(by: .milliseconds(500))
        try spool.append(entry(6))
        clock.advance(by: .milliseconds(500))
        _ = try spool.claim(sink: "loki", owner: "a")
        let first = try spool.acknowledge(sink: "loki", owner: "a", through: 5, delivered: 5)
        #expect(first.latencies == [.init(nanoseconds: 3_000_000_000, count: 3), .init(nanoseconds: 1_000_000_000, count: 2)])
        clock.advance(by: .seconds(1))
        let second = try spool.acknowledge(sink: "loki", owner: "a", through: 6, delivered: 1)
        #expect(second.latencies == [.init(nanoseconds: 1_500_000_000, count: 1)])
        let latency = try #require(try spool.stats().sinks.first?.latency)
        #expect(latency.count == 6)
        #expect(latency.maxSeconds == 3)
        #expect(latency.p50Seconds == 2.5)  // 3 of 6 at or below the 2.5 s bucket
        #expect(latency.p99Seconds == 3)  // the 5 s bucket, capped by the maximum
        // Commit times go with their entries.
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        #expect(try SQL(path).int("SELECT count(*) FROM commit_times") ?? 0 <= 1)
    }

    @Test func commitsWithinAMillisecondShareOneCommitTimeRow() throws {
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        let spool = try SpoolStore(path: path, configuration: configuration)
        for number in 1...10 {
            try spool.append(entry(number))
            clock.advance(by: .microseconds(300))
        }
        // t = 0, 1.2 ms and 2.4 ms start a row; the commits between share the last one.
        #expect(try SQL(path).rows("SELECT first_id FROM commit_times ORDER BY first_id").map { $0[0] } == ["1", "5", "9"])
    }

    @Test func aSpoolFromSchemaSixUpgradesWithBalancedBooksAndOnlyNewEntriesHaveLatency() throws {
        do {
            let connection = try Connection(path: path, create: true)
            try connection.execute("PRAGMA journal_mode = WAL")
            try Migrations.migrate(connection, to: 6)
            for number in 1...8 {
                try connection.execute("INSERT INTO entries (ts_ns, level, topic, message) VALUES (\(number), 'info', 'old', 'old \(number)')")
            }
            try connection.execute("INSERT INTO sinks (name, position, created_ns, delivered, dead_lettered) VALUES ('loki', 3, 0, 2, 1)")
        }
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        let spool = try SpoolStore(path: path, configuration: configuration)
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 8, delivered: 2, deadLettered: 1, dropped: 0, pending: 5))
        try spool.append(contentsOf: (9...10).map { entry($0) })
        clock.advance(by: .seconds(4))
        _ = try spool.claim(sink: "loki", owner: "a")
        let result = try spool.acknowledge(sink: "loki", owner: "a", through: 10, delivered: 7)
        #expect(result.delivered == 7)
        #expect(result.latencies == [.init(nanoseconds: 4_000_000_000, count: 2)])
        #expect(try books(spool)["loki"] == SinkBooks(accepted: 10, delivered: 9, deadLettered: 1, dropped: 0, pending: 0))
        #expect(try spool.stats().sinks.first?.latency?.count == 2)
    }

    @Test func statsOfASpoolNotYetMigratedHaveNoBooks() throws {
        let connection = try Connection(path: path, create: true)
        try connection.execute("PRAGMA journal_mode = WAL")
        try Migrations.migrate(connection, to: 6)
        try connection.execute("INSERT INTO sinks (name, position, created_ns) VALUES ('loki', 0, 0)")
        let stats = try SpoolStore.stats(path: path)
        #expect(stats.schemaVersion == 6)
        #expect(stats.sinks.first?.books == nil)
        #expect(stats.sinks.first?.latency == nil)
    }
}
