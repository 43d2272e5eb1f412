import CSQLite
import Dispatch
import Foundation
import Synchronization

/// Where async code runs the store's blocking calls: on threads of their own, never on Swift's
/// cooperative pool.
///
/// A claim, an acknowledgement or a lease renewal may wait on a lock: this process's writer
/// (held for a group-commit round), SQLite's busy handler while another process writes, a
/// checkpoint. The cooperative pool has one thread per core, so on a two-core machine two such
/// waits stall every task of the process, lease renewal included. A concurrent dispatch queue of
/// our own creates threads as blocked work needs them.
package enum BlockingWork {
    private static let queue = DispatchQueue(label: "spool.store.blocking", attributes: .concurrent)

    /// Runs `body` on a thread of the blocking queue and returns its result.
    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws(SpoolError) -> T) async throws(SpoolError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, SpoolError>, Never>) in
            queue.async { continuation.resume(returning: Result { () throws(SpoolError) -> T in try body() }) }
        }
        return try result.get()
    }
}

extension SpoolError {
    /// SQLite found the database locked by another connection (`SQLITE_BUSY`, `SQLITE_LOCKED`,
    /// or one of their extended codes): worth trying again in a moment.
    package var isBusy: Bool {
        guard let code = sqliteCode else { return false }
        return code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED
    }
}

/// A thread of its own for long blocking work (a loop that waits on a semaphore, a read of
/// standard input), awaited without holding one of the cooperative pool's threads.
package enum OwnThread {
    /// Runs `body` on a new thread and returns its result. `body`, and what it captured, is
    /// released before the caller resumes: a store it held can end (and close its connections)
    /// as soon as the caller lets go of it, not whenever the finished thread is cleaned up.
    package static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        let box = Mutex<(@Sendable () -> T)?>(body)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let result = { () -> T in
                    let taken = box.withLock { body in
                        defer { body = nil }
                        return body
                    }
                    return taken!()
                }()
                continuation.resume(returning: result)
            }
        }
    }
}
