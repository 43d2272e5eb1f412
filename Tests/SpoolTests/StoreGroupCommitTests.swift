import Foundation
import Synchronization
import Testing
@testable import Spool

/// Waiters of a committed-mode group commit spin before they park; both ways they return only
/// after their own commit, with its outcome.
@Suite struct StoreGroupCommitTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    @Test(arguments: [(SpoolStore.Durability.committed, nil), (.committed, 0), (.fsync, nil), (.fsync, 0)])
    func everyWaiterReturnsAfterItsCommitWhetherItSpunOrParked(durability: SpoolStore.Durability, spins: Int?) async throws {
        var configuration = SpoolStore.Configuration(durability: durability)
        configuration.waiterSpins = spins  // 0: every waiter parks at once
        let spool = try SpoolStore(path: path, configuration: configuration)
        let threads = 8, perThread = durability == .fsync ? 40 : 400
        // Each append checks that every entry it appended before is already visible to another
        // connection: an append that returned before its commit would fail this at once.
        let failures = Mutex(0)
        await onThreads(threads) { thread in
            let sql = try! SQL(path)
            for index in 0..<perThread {
                try! spool.append(entry(thread * 10_000 + index, topic: "t\(thread)"))
                let stored = try! sql.int("SELECT count(*) FROM entries WHERE topic = 't\(thread)'")
                if stored != Int64(index + 1) { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == Int64(threads * perThread))
        #expect(spool.rowsPerCommit >= 1)
    }
}
