import Spool
import Synchronization

/// A clock that moves only when a test says so. Sleepers wake when ``advance(by:)`` passes
/// their deadline, so time-dependent code is tested without sleeping.
package final class ManualClock: WallClock, Sendable {
    private struct State {
        var now: UnixInstant
        var sleepers: [(deadline: UnixInstant, id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
        var cancelled: Set<Int> = []
    }
    private let state: Mutex<State>

    /// A clock at `start` (default 2024-11-29T09:40:00Z).
    package init(start: UnixInstant = UnixInstant(nanoseconds: 1_732_873_200_000_000_000)) {
        state = Mutex(State(now: start))
    }

    package var now: UnixInstant { state.withLock { $0.now } }
    package var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are sleeping on this clock: lets a test wait until work is parked.
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    package func sleep(until deadline: UnixInstant, tolerance: Duration?) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case parked, due, cancelled }
                let outcome = state.withLock { state -> Outcome in
                    if state.cancelled.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers.append((deadline, id, continuation))
                    return .parked
                }
                switch outcome {
                case .parked: break
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            // A task cancelled before it parked (onCancel then runs first) is remembered, or it
            // would stay parked until a test happened to move the clock past its deadline.
            let sleeper = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index).continuation
            }
            sleeper?.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    package func advance(by duration: Duration) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }
}
