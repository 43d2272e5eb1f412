import Foundation
import Testing
@testable import Spool

/// Real child processes killed with SIGKILL: what `append` returned for must survive.
@Suite(.serialized) struct StoreCrashTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("crash.spool") }

    /// The numbers stored by the child, in id order.
    func storedNumbers() throws -> [Int64] {
        try SQL(path).rows("SELECT json_extract(context, '$.n') FROM entries ORDER BY id").map { Int64($0[0]!)! }
    }

    @Test func everyReturnedAppendSurvivesSIGKILLInOrderWithoutGaps() throws {
        var generator = SystemRandomNumberGenerator()
        var next: Int64 = 0
        let trials = 24
        for trial in 0..<trials {
            let child = try Child("SpoolTestChild", ["append", path, String(next)])
            // Kill after a random number of acknowledged appends (sometimes right at start-up).
            let target = Int.random(in: 0...400, using: &generator)
            var lastReported: Int64?
            for _ in 0..<target {
                guard let line = child.readLine(), let number = Int64(line) else { break }
                lastReported = number
            }
            child.kill()

            // The spool opens cleanly, holds every reported entry, in order, with no gap.
            let spool = try SpoolStore(path: path)
            #expect(spool.recoveredFrom == nil, "trial \(trial): the spool needed recovery")
            let numbers = try storedNumbers()
            #expect(numbers == Array(0..<Int64(numbers.count)), "trial \(trial): a gap or reordering")
            if let lastReported {
                #expect(numbers.last ?? -1 >= lastReported, "trial \(trial): reported \(lastReported) but stored up to \(numbers.last ?? -1)")
            }
            try spool.close()
            next = Int64(numbers.count)
        }
        #expect(next > 0)
    }

    @Test func twoProcessesAppendToOneSpoolAtOnce() throws {
        // Create it first so both writers find a migrated spool.
        try SpoolStore(path: path).close()
        let child = try Child("SpoolTestChild", ["append", path, "1000000"])
        #expect(child.readLine() != nil)
        let spool = try SpoolStore(path: path)
        for number in 0..<500 {
            try spool.append(entry(number, topic: "parent"))
        }
        var childCount = 0
        while childCount < 500, child.readLine() != nil { childCount += 1 }
        child.kill()
        let sql = try SQL(path)
        #expect(try sql.int("SELECT count(*) FROM entries WHERE topic = 'parent'") == 500)
        let childNumbers = try sql.rows("SELECT json_extract(context, '$.n') FROM entries WHERE topic = 'crash.test' ORDER BY id").map { Int($0[0]!)! }
        #expect(childNumbers.count >= 500)
        #expect(childNumbers == Array(1_000_000..<(1_000_000 + childNumbers.count)))
    }
}
