import Spool
import Synchronization

/// At most `limit` requests in flight across every sink, admitted in arrival order (FIFO), so a
/// busy sink cannot starve a quiet one.
package final class ConcurrencyLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var inFlight = 0
        var peak = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())
    /// The most requests allowed at once.
    package let limit: Int

    /// A limiter for `limit` concurrent requests (at least 1). Default 5.
    package init(limit: Int = 5) {
        self.limit = max(1, limit)
    }

    /// Requests in flight now, and the most seen at once.
    package var inFlight: Int { state.withLock { $0.inFlight } }
    package var peak: Int { state.withLock { $0.peak } }
    /// Callers waiting for a permit.
    package var waiting: Int { state.withLock { $0.waiters.count } }

    /// Runs `body` holding a permit, waiting in line for one when all are taken.
    /// - Throws: `CancellationError` if the task is cancelled while waiting; what `body` throws.
    package func withPermit<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        try await acquire()
        defer { release() }
        return try await body()
    }

    func acquire() async throws {
        let id = state.withLock { state -> UInt64? in
            // Take a free permit only if nobody is waiting for one: FIFO.
            if state.inFlight < limit && state.waiters.isEmpty {
                state.inFlight += 1
                state.peak = max(state.peak, state.inFlight)
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    func release() {
        let next = state.withLock { state -> Waiter? in
            if state.waiters.isEmpty {
                state.inFlight -= 1
                return nil
            }
            // Hand the permit straight to the longest waiter; inFlight stays the same.
            return state.waiters.removeFirst()
        }
        next?.continuation.resume()
    }
}
