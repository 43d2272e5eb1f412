import CSQLite
import Foundation
import Synchronization
import SpoolTesting
import Testing
@testable import Spool

@Suite struct StoreSinkTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    @Test func claimReturnsEntriesAfterThePositionBoundedByCountAndBytes() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...10).map { entry($0) })
        let first = try spool.claim(sink: "loki", owner: "a", maxCount: 4)
        #expect(first.entries.map(\.id) == [1, 2, 3, 4])
        #expect(first.lastID == 4)
        // In-flight pipelining: claim after the in-memory cursor, not the stored position.
        let second = try spool.claim(sink: "loki", owner: "a", after: first.lastID, maxCount: 100, maxBytes: 40)
        // Each entry is 4 (topic) + 7..8 (message) + 7..8 (context) bytes: 2 fit in 40.
        #expect(second.entries.map(\.id) == [5, 6])
        // One entry larger than maxBytes still comes alone, so nothing can get stuck.
        let single = try spool.claim(sink: "loki", owner: "a", after: 6, maxBytes: 1)
        #expect(single.entries.map(\.id) == [7])
        #expect(single.entries[0].message == "entry 7")
        #expect(single.entries[0].contextJSON == #"{"n":7}"#)
        #expect(single.entries[0].entry == entry(7))
    }

    /// A claimed batch's text is one buffer of valid UTF-8: text written by hand that is not
    /// (the `sqlite3` shell stores any bytes as TEXT) is repaired as `String` repairs it, so the
    /// byte-copying encoders never put invalid UTF-8 into a body.
    @Test func claimedTextIsValidUTF8EvenWhenTheStoredBytesAreNot() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: [entry(1)])
        let connection = try Connection(path: path, create: false)
        // A lone continuation byte, a surrogate, an overlong slash, and a cut-off euro sign.
        try connection.execute("""
            INSERT INTO entries (ts_ns, level, topic, message, context)
            VALUES (2, 'info', CAST(x'6170708041' AS TEXT), CAST(x'61EDA080622FC0AF63E282' AS TEXT), CAST(x'7B7D' AS TEXT))
            """)
        try spool.append(contentsOf: [entry(3)])
        let batch = try spool.claim(sink: "loki", owner: "a", maxCount: 10)
        #expect(batch.entries.map(\.id) == [1, 2, 3])
        let repaired = batch.entries[1]
        #expect(repaired.topic == String(decoding: [0x61, 0x70, 0x70, 0x80, 0x41], as: UTF8.self))
        #expect(repaired.message == String(decoding: [0x61, 0xED, 0xA0, 0x80, 0x62, 0x2F, 0xC0, 0xAF, 0x63, 0xE2, 0x82], as: UTF8.self))
        #expect(repaired.message.unicodeScalars.filter { $0 == "\u{FFFD}" }.count >= 3)
        for stored in batch.entries {
            #expect(stored.withTopicUTF8 { StoredText.isValidUTF8($0) })
            #expect(stored.withMessageUTF8 { StoredText.isValidUTF8($0) })
            #expect(stored.withContextUTF8 { $0.map(StoredText.isValidUTF8) ?? true })
        }
        // Its neighbours share the batch's buffer and are read back exactly.
        #expect(batch.entries[0].entry == entry(1))
        #expect(batch.entries[2].entry == entry(3))
    }

    /// The validator agrees with the standard library's on every kind of sequence: ASCII words,
    /// each multi-byte form and its limits, and random bytes.
    @Test func theUTF8CheckAgreesWithTheStandardLibrary() {
        var cases: [[UInt8]] = [
            [], Array("plain ASCII, longer than one word".utf8), Array("naïve café 日本語 🎉".utf8),
            [0xC2, 0x80], [0xC1, 0xBF], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80],
            [0xE2, 0x82], [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0xE2, 0x82, 0xAC], [0xC3],
        ]
        // Seeded, so a failure is the same failure every time.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let alphabet: [UInt8] = [0x41, 0x7F, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xA0, 0x9F, 0x8F, 0x90]
        for _ in 0..<20_000 {
            cases.append((0..<Int(next() % 12)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] })
        }
        for bytes in cases {
            let expected = String(validating: bytes, as: UTF8.self) != nil
            #expect(bytes.withUnsafeBufferPointer(StoredText.isValidUTF8) == expected, "\(bytes.map { String($0, radix: 16) })")
        }
    }

    /// How late delivery is counts from the commit, not the event time: a backfill of last
    /// year's logs is not a year late (the "Delivery is late" alert of operations.md would fire
    /// at once), and an app whose clock runs ahead does not hide a delay. The metric, the status
    /// line, `stats` and `top` all read it; where the spool has no commit time for the entry
    /// (before schema 7), the event time stands in.
    @Test func theOldestPendingEntryWaitsFromItsCommitNotItsEventTime() throws {
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        configuration.report = { _ in }
        let spool = try SpoolStore(path: path, configuration: configuration)
        try spool.registerSink("loki")
        let committed = clock.now.nanoseconds
        let yearAgo = committed - 365 * 86_400 * 1_000_000_000
        try spool.append(contentsOf: [LogEntry(timestamp: yearAgo, level: .info, topic: "backfill", message: "old")])
        clock.advance(by: .seconds(30))
        #expect(try spool.backlog(of: "loki").oldestPendingSince == committed)
        #expect(try spool.stats().sinks.first?.oldestPendingAgeSeconds == 30)
        #expect(try SpoolWatcher(path: path).snapshot().sinks.first?.oldestPendingSince == committed)

        // Without a commit time for it, the event time.
        try Connection(path: path, create: false).execute("DELETE FROM commit_times")
        #expect(try spool.backlog(of: "loki").oldestPendingSince == yearAgo)
        #expect(try SpoolWatcher(path: path).snapshot().sinks.first?.oldestPendingSince == yearAgo)
        try spool.close()
    }

    /// A claim of entries already synced takes only the reader's lock: it never waits behind an
    /// app's commit or another sink's acknowledgement holding the writer. An acknowledgement's
    /// synced commit makes every entry committed before it synced for claims too, so a live
    /// stream's claims need no sync (and no writer) of their own.
    @Test func aClaimOfSyncedEntriesDoesNotWaitForTheWriter() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...10).map { entry($0) })
        let first = try spool.claim(sink: "loki", owner: "a", maxCount: 4)  // syncs through 10
        #expect(try claimWhileTheWriterIsHeld(spool, after: first.lastID, maxCount: 4) == [5, 6, 7, 8])
        try spool.append(contentsOf: (11...20).map { entry($0) })
        // An acknowledgement that moves nothing writes nothing, so it syncs nothing either: the
        // claim of 11…20 must still sync them, and so wait for the writer.
        try spool.acknowledge(sink: "loki", owner: "a", through: 0, delivered: 0)
        #expect(try claimWhileTheWriterIsHeld(spool, after: 8, maxCount: 100, patience: .milliseconds(300)) == nil)
        // (That claim synced through 20 once the writer was free.) An acknowledgement that moves
        // the position is synced, and covers what was committed before it.
        try spool.append(contentsOf: (21...30).map { entry($0) })
        try spool.acknowledge(sink: "loki", owner: "a", through: 8, delivered: 8)
        #expect(try claimWhileTheWriterIsHeld(spool, after: 20, maxCount: 100) == Array(21...30))
    }

    /// The scheduler claims the next batch of a backlog while an acknowledgement holds the
    /// writer: that claim must not wait for the writer to sync, and the entries are synced
    /// (`makeDurable`) before they are sent.
    @Test func aClaimWithoutItsSyncDoesNotWaitAndMakeDurableSyncsWhatItHandedOut() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.acquireLease(sink: "loki", owner: "a", duration: .seconds(30))  // as a scheduler holds it
        try spool.append(contentsOf: (1...10).map { entry($0) })
        #expect(!spool.isDurable(through: 10))
        #expect(try claimWhileTheWriterIsHeld(spool, after: 0, maxCount: 100, syncing: false) == Array(1...10))
        #expect(!spool.isDurable(through: 10))
        try spool.makeDurable(through: 10)
        #expect(spool.isDurable(through: 10))
        #expect(try claimWhileTheWriterIsHeld(spool, after: 0, maxCount: 100) == Array(1...10))
    }

    /// The ids `claim` returns while another thread holds the store's writer, or nil if it
    /// waited for the writer (`patience`; a claim that must not wait gets 10 s).
    private func claimWhileTheWriterIsHeld(_ spool: SpoolStore, after: Int64, maxCount: Int, syncing: Bool = true,
                                           patience: DispatchTimeInterval = .seconds(10)) throws -> [Int64]? {
        let held = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), claimed = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            spool.writer.withLock { _ in
                held.signal()
                release.wait()
            }
        }
        held.wait()
        let result = Mutex<Result<[Int64], SpoolError>?>(nil)
        Thread.detachNewThread {
            let ids = Result { () throws(SpoolError) -> [Int64] in
                try spool.claim(sink: "loki", owner: "a", after: after, maxCount: maxCount, syncing: syncing).entries.map(\.id)
            }
            result.withLock { $0 = ids }
            claimed.signal()
        }
        let waited = claimed.wait(timeout: .now() + patience) == .timedOut
        release.signal()
        if waited { claimed.wait() }
        return waited ? nil : try result.withLock { $0 }?.get()
    }

    /// Registering a sink that exists already (what every `spool forward` does at start) reads
    /// nothing of the backlog: its books were set when it was first registered. It used to count
    /// over every entry, all of a backlog after an outage, before the first batch could leave.
    @Test func registeringAKnownSinkAgainDoesNotReadTheBacklog() throws {
        let spool = try SpoolStore(path: path)
        try spool.append(contentsOf: (1...3000).map { entry($0, message: String(repeating: "x", count: 300)) })
        try spool.registerSink("loki")
        func pagesRead(_ body: () throws -> Void) throws -> Int32 {
            func misses() -> Int32 {
                spool.writer.withLock { writer in
                    var current: Int32 = 0, highest: Int32 = 0
                    sqlite3_db_status(writer.connection.handle, SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 0)
                    return current
                }
            }
            let before = misses()
            try body()
            return misses() - before
        }
        // ~1 MB of entries: some 250 pages, more than the writer's cache holds.
        #expect(try pagesRead { try spool.registerSink("loki") } < 10)
        #expect(try pagesRead { try spool.registerSink("otlp") } > 200, "a new sink counts what is stored")
        #expect(try spool.position(of: "loki") == 0 && spool.position(of: "otlp") == 0)
    }

    /// A drain's acknowledgements read each page of the backlog once on the writer: SQLite's
    /// rebalancing of a leaf it empties reads the leaves after it, and the writer's cache keeps
    /// them for the next acknowledgement, which deletes them. With the readers' 256 KiB the
    /// writer read every leaf twice.
    @Test func acknowledgementsReadEachPageOfABacklogOnce() throws {
        do {
            let spool = try SpoolStore(path: path)
            try spool.registerSink("loki")
            for start in stride(from: 1, through: 30_000, by: 3000) {
                try spool.append(contentsOf: (start..<(start + 3000)).map { entry($0, message: String(repeating: "x", count: 300)) })
            }
            try spool.close()
        }
        // A new connection's cache holds nothing of what the appends wrote.
        let reopened = try SpoolStore(path: path)
        func misses() -> Int32 {
            reopened.writer.withLock { writer in
                var current: Int32 = 0, highest: Int32 = 0
                sqlite3_db_status(writer.connection.handle, SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 0)
                return current
            }
        }
        // ~10 MB of entries: about 2,750 pages, ten times the writer's cache.
        let pages = try #require(try reopened.writer.withLock { try $0.connection.scalarInt("PRAGMA page_count") })
        let before = misses()
        var position: Int64 = 0
        while position < 30_000 {
            let batch = try reopened.claim(sink: "loki", owner: "a", after: position, maxCount: 2000)
            let last = try #require(batch.entries.last?.id)
            try reopened.acknowledge(sink: "loki", owner: "a", through: last, delivered: batch.entries.count)
            position = last
        }
        let read = Int64(misses() - before)
        #expect(read < pages * 5 / 4, "the writer read \(read) pages for a table of \(pages)")
        #expect(try reopened.writer.withLock { try $0.connection.scalarInt("SELECT count(*) FROM entries") } == 0)
    }

    @Test func acknowledgedEntriesAreDeletedOnlyWhenEverySinkPassedThem() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.registerSink("otlp")
        try spool.append(contentsOf: (1...6).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        _ = try spool.claim(sink: "otlp", owner: "b")
        try spool.acknowledge(sink: "loki", owner: "a", through: 4, delivered: 4)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 6)
        try spool.acknowledge(sink: "otlp", owner: "b", through: 2, delivered: 2)
        #expect(try SQL(path).rows("SELECT id FROM entries").map { $0[0] } == ["3", "4", "5", "6"])
        #expect(try spool.position(of: "loki") == 4)
        // A stale acknowledgement never moves a position back.
        try spool.acknowledge(sink: "loki", owner: "a", through: 1, delivered: 0)
        #expect(try spool.position(of: "loki") == 4)
        let next = try spool.claim(sink: "loki", owner: "a")
        #expect(next.entries.map(\.id) == [5, 6])
    }

    /// A drain acknowledged batch by batch ends with an empty table. (Deletions used to be cut
    /// into chunks sized from a byte estimate that deletions never lowered: the chunks shrank as
    /// the table did, and after the last acknowledgement thousands of delivered entries stayed.)
    @Test func aDrainAcknowledgedBatchByBatchLeavesNoDeliveredEntryBehind() throws {
        var configuration = SpoolStore.Configuration()
        configuration.checkpointPages = 16  // a small WAL reserve: the chunks were small too
        let spool = try SpoolStore(path: path, configuration: configuration)
        try spool.registerSink("loki")
        let message = String(repeating: "m", count: 200)
        try spool.append(contentsOf: (1...5000).map { entry($0, message: message) })
        while true {
            let batch = try spool.claim(sink: "loki", owner: "a", maxCount: 100)
            if batch.entries.isEmpty { break }
            try spool.acknowledge(sink: "loki", owner: "a", through: batch.lastID, delivered: batch.entries.count)
        }
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        #expect(try spool.stats().entries == 0)
    }

    @Test func anAcknowledgementWithoutTheLeaseChangesNothing() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(entry(1))
        #expect { try spool.acknowledge(sink: "loki", owner: "a", through: 1, delivered: 1) } throws: {
            ($0 as? SpoolError)?.code == .notLeaseHolder
        }
        #expect(try spool.position(of: "loki") == 0)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 1)
    }

    @Test func idsAreNeverReusedAfterEveryEntryWasDeleted() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...3).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        try spool.acknowledge(sink: "loki", owner: "a", through: 3, delivered: 3)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        try spool.append(entry(4))
        let batch = try spool.claim(sink: "loki", owner: "a")
        #expect(batch.entries.map(\.id) == [4])
    }

    @Test func aNewSinkStartsFromTheOldestEntryStillPresent() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...5).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        try spool.acknowledge(sink: "loki", owner: "a", through: 2, delivered: 2)
        try spool.registerSink("late")
        #expect(try spool.claim(sink: "late", owner: "b").entries.map(\.id) == [3, 4, 5])
        // Registering again changes nothing.
        try spool.registerSink("late")
        #expect(try spool.position(of: "late") == 2)
    }

    @Test func aSinkRegisteredOnAnEmptySpoolWaitsForNewEntries() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...3).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        try spool.acknowledge(sink: "loki", owner: "a", through: 3, delivered: 3)
        try spool.registerSink("late")
        #expect(try spool.position(of: "late") == 3)
        #expect(try spool.claim(sink: "late", owner: "b").entries.isEmpty)
    }

    @Test func deadLettersKeepTheEntryAndTheReasonAndCountAsPassed() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...4).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        let reason = "entry too far behind " + String(repeating: "x", count: 5000)
        try spool.acknowledge(sink: "loki", owner: "a", through: 4, delivered: 3,
                              deadLetters: [DeadLetter(entryID: 2, status: 400, reason: reason, attempts: 3)])
        let rows = try SQL(path).rows("SELECT sink, entry_id, status, attempts, message, context, level, length(reason) FROM dead_letters")
        #expect(rows.count == 1)
        #expect(Array(rows[0][0..<7]) == ["loki", "2", "400", "3", "entry 2", #"{"n":2}"#, "info"])
        #expect(Int(rows[0][7]!)! <= DeadLetter.maximumReasonBytes)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        let stats = try spool.stats()
        #expect(stats.deadLetters == 1)
        #expect(stats.sinks.first?.delivered == 3)
        #expect(stats.sinks.first?.deadLettered == 1)
    }

    @Test func removingASinkStopsItHoldingEntriesBack() throws {
        let spool = try SpoolStore(path: path)
        try spool.registerSink("loki")
        try spool.registerSink("stale")
        try spool.append(contentsOf: (1...4).map { entry($0) })
        _ = try spool.claim(sink: "loki", owner: "a")
        try spool.acknowledge(sink: "loki", owner: "a", through: 4, delivered: 4)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 4)
        #expect(try spool.removeSink("stale"))
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 0)
        #expect(try spool.sinkNames() == ["loki"])
        #expect(try !spool.removeSink("stale"))
    }

    @Test func unknownSinksAreReportedByName() throws {
        let spool = try SpoolStore(path: path)
        #expect { _ = try spool.claim(sink: "nope", owner: "a") } throws: {
            ($0 as? SpoolError)?.code == .unknownSink && "\($0)".contains("nope")
        }
    }

    // MARK: - Leases

    @Test func aHeldLeaseNamesItsHolderAndExpiryAndExpiresOnTheClock() throws {
        let clock = ManualClock()
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        let first = try SpoolStore(path: path, configuration: configuration)
        let second = try SpoolStore(path: path, configuration: configuration)
        try first.registerSink("loki")
        try first.append(entry(1))
        _ = try first.claim(sink: "loki", owner: "forwarder-1", lease: .seconds(30))
        #expect { _ = try second.claim(sink: "loki", owner: "forwarder-2") } throws: { error in
            let error = error as? SpoolError
            return error?.code == .leaseHeld && error!.message.contains("forwarder-1")
                && error!.message.contains("2024-11-29T09:40:30.000Z")
        }
        clock.advance(by: .seconds(31))
        #expect(try second.claim(sink: "loki", owner: "forwarder-2").entries.count == 1)
        // The old holder's acknowledgement is refused now.
        #expect { try first.acknowledge(sink: "loki", owner: "forwarder-1", through: 1, delivered: 1) } throws: {
            ($0 as? SpoolError)?.code == .notLeaseHolder
        }
    }

    @Test func aReleasedLeaseCanBeTakenAtOnce() throws {
        let first = try SpoolStore(path: path)
        let second = try SpoolStore(path: path)
        try first.registerSink("loki")
        try first.acquireLease(sink: "loki", owner: "one", duration: .seconds(60))
        try first.releaseLease(sink: "loki", owner: "one")
        try second.acquireLease(sink: "loki", owner: "two", duration: .seconds(60))
        #expect(try SQL(path).text("SELECT lease_owner FROM sinks") == "two")
    }

    @Test func aLeaseHeldByAnotherProcessIsRespectedEvenAfterItWasKilled() throws {
        let child = try Child("SpoolTestChild", ["lease", path, "loki", "child-owner", "3600"])
        #expect(child.readLine() == "leased")
        let spool = try SpoolStore(path: path)
        #expect { try spool.acquireLease(sink: "loki", owner: "parent", duration: .seconds(10)) } throws: {
            ($0 as? SpoolError)?.code == .leaseHeld && "\($0)".contains("child-owner")
        }
        child.kill()
        // A killed holder cannot release; its lease stands until it expires.
        #expect(throws: SpoolError.self) { try spool.acquireLease(sink: "loki", owner: "parent", duration: .seconds(10)) }
        try SQL(path).connection.execute("UPDATE sinks SET lease_expires_ns = 0")
        try spool.acquireLease(sink: "loki", owner: "parent", duration: .seconds(10))
    }
}
