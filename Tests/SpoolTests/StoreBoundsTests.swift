import Foundation
import Synchronization
import Testing
@testable import Spool

@Suite struct StoreBoundsTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    func configuration(_ policy: SpoolStore.OverflowPolicy, reports: Reports? = nil) -> SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration()
        configuration.maximumBytes = 256 * 1024
        configuration.overflowPolicy = policy
        if let reports {
            configuration.report = reports.record
        }
        return configuration
    }

    func fill(_ spool: SpoolStore, count: Int) throws {
        for batch in stride(from: 0, to: count, by: 100) {
            try spool.append(contentsOf: (batch..<min(count, batch + 100)).map {
                entry($0, message: "entry \($0) " + String(repeating: "x", count: 500))
            })
        }
    }

    @Test func dropOldestKeepsTheNewestAndRecordsEveryDrop() throws {
        let reports = Reports()
        let spool = try SpoolStore(path: path, configuration: configuration(.dropOldest, reports: reports))
        try fill(spool, count: 2000)  // about 1.1 MB into a 256 KiB bound
        let sql = try SQL(path)
        let kept = try #require(try sql.int("SELECT count(*) FROM entries"))
        let dropped = try #require(try sql.int("SELECT sum(count) FROM drops"))
        #expect(kept + dropped == 2000)
        #expect(kept > 100)
        // The newest entry is there; what is missing is a prefix, and drops name its range.
        #expect(try sql.int("SELECT max(id) FROM entries") == 2000)
        #expect(try sql.int("SELECT min(id) FROM entries") == dropped + 1)
        #expect(try sql.int("SELECT max(last_id) FROM drops") == dropped)
        #expect(try sql.int("SELECT count(*) FROM drops WHERE reason = 'overflow:dropOldest'") == sql.int("SELECT count(*) FROM drops"))
        #expect(try spool.stats().usedBytes <= 256 * 1024)
        #expect(try spool.stats().droppedEntries == dropped)
        var reported: Int64 = 0
        for report in reports.all where report.topic == "spool.store.dropped" {
            if case .int(let count) = report.context?["count"] { reported += count }
        }
        #expect(reported == dropped)
    }

    /// One append larger than the bound (`spool ingest < file` commits 1000 lines at a time)
    /// keeps its newest entries under drop_oldest: its own oldest make room, with their ids,
    /// instead of the whole append being dropped as the newest.
    @Test func dropOldestKeepsTheNewestOfAnAppendLargerThanTheBound() throws {
        let spool = try SpoolStore(path: path, configuration: configuration(.dropOldest))
        for batch in 0..<3 {
            try spool.append(contentsOf: (batch * 1000..<(batch + 1) * 1000).map {
                entry($0, message: "entry \($0) " + String(repeating: "x", count: 500))
            })
        }
        let sql = try SQL(path)
        #expect(try sql.rows("SELECT DISTINCT reason FROM drops") == [["overflow:dropOldest"]])
        let kept = try #require(try sql.int("SELECT count(*) FROM entries"))
        let dropped = try sql.int("SELECT sum(count) FROM drops") ?? 0
        #expect(kept > 100 && kept + dropped == 3000)
        #expect(try sql.int("SELECT max(id) FROM entries") == 3000)
        #expect(try sql.int("SELECT min(id) FROM entries") == 3000 - kept + 1)
        #expect(try spool.stats().usedBytes <= 256 * 1024)
        // The parts' drops of one append are one run of ids: one row and one report each.
        let dropRows = try sql.rows("SELECT count, first_id, last_id FROM drops")
        #expect(dropRows.count <= 3, "\(dropRows)")
    }

    @Test func dropNewestKeepsWhatIsStoredAndCountsTheRest() throws {
        let spool = try SpoolStore(path: path, configuration: configuration(.dropNewest))
        try fill(spool, count: 2000)
        let sql = try SQL(path)
        let kept = try #require(try sql.int("SELECT count(*) FROM entries"))
        #expect(try sql.int("SELECT min(id) FROM entries") == 1)
        #expect(kept + (try sql.int("SELECT sum(count) FROM drops") ?? 0) == 2000)
        #expect(try sql.int("SELECT count(*) FROM drops WHERE first_id IS NULL AND reason = 'overflow:dropNewest'") ?? 0 > 0)
        // What a command that appended reports: this instance's drops, by reason.
        #expect(spool.droppedSinceOpen == ["overflow:dropNewest": 2000 - Int(kept)])
    }

    @Test func rejectRefusesWithAClearErrorAndKeepsEverything() throws {
        let spool = try SpoolStore(path: path, configuration: configuration(.reject))
        var accepted = 0
        var refusal: SpoolError?
        for number in 0..<5000 {
            do throws(SpoolError) {
                try spool.append(entry(number, message: String(repeating: "y", count: 500)))
                accepted += 1
            } catch {
                refusal = error
                break
            }
        }
        #expect(refusal?.code == .spoolFull)
        #expect(refusal?.message.contains("reject") == true)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == Int64(accepted))
        #expect(try SQL(path).int("SELECT count(*) FROM drops") == 0)
    }

    @Test func forwardingFreesRoomUnderTheRejectPolicy() throws {
        let spool = try SpoolStore(path: path, configuration: configuration(.reject))
        try spool.registerSink("loki")
        var stored = 0
        while (try? spool.append(entry(stored, message: String(repeating: "y", count: 500)))) != nil { stored += 1 }
        let batch = try spool.claim(sink: "loki", owner: "a", maxCount: 100_000, maxBytes: Int.max)
        try spool.acknowledge(sink: "loki", owner: "a", through: batch.lastID, delivered: batch.entries.count)
        try spool.append(entry(99_999))
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 1)
    }
}
