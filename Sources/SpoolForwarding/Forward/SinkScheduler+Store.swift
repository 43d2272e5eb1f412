import Foundation
import Spool
import Synchronization

// The store, from async code: every store call of a scheduler (register, lease, position, claim,
// sync, acknowledge, gauges) goes through `withStore`.
extension SinkScheduler {
    /// Runs a store call off the cooperative pool (``BlockingWork``). A busy spool
    /// (`SQLITE_BUSY`/`SQLITE_LOCKED`: another process's long write, a checkpoint) is transient:
    /// the call is tried again with backoff on the injected clock (10 ms doubling to 1 s), and
    /// reported once per episode as `spool.forward.busy`; it never ends the sink. Any other
    /// error is thrown.
    func withStore<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (SpoolStore) throws(SpoolError) -> T) async throws -> T {
        var delay = Duration.milliseconds(10)
        let store = self.store
        // Whether this call is counted in the episode; it leaves the count however it ends.
        var waiting = false
        defer {
            if waiting {
                busyEpisode.withLock { episode in
                    episode.waiting -= 1
                    if episode.waiting == 0 { episode.reported = false }
                }
            }
        }
        while true {
            let result: Result<T, SpoolError>
            do { result = .success(try await BlockingWork.run { () throws(SpoolError) -> T in try body(store) }) } catch { result = .failure(error) }
            switch result {
            case .success(let value):
                return value
            case .failure(let error) where error.isBusy:
                let first = !waiting
                waiting = true
                let reports = busyEpisode.withLock { episode -> Bool in
                    if first { episode.waiting += 1 }
                    defer { episode.reported = true }
                    return !episode.reported
                }
                if reports {
                    report(event(.warning, "spool.forward.busy",
                                 "sink '\(configuration.name)': the spool is locked by another connection (\(operation)); trying again with backoff",
                                 ["operation": .string(operation), "error": .string(error.message)]))
                }
            case .failure(let error):
                throw error
            }
            try await clock.sleep(for: delay)
            delay = min(delay * 2, .seconds(1))
        }
    }
}
