import Spool
import Synchronization

/// A token bucket: `rate` tokens per second, up to `burst` saved. A request that finds no token
/// waits for one on the injected clock; nothing is ever dropped.
package final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var updated: UnixInstant
    }
    private let state: Mutex<State>
    private let clock: any WallClock
    /// Tokens added per second.
    package let rate: Double
    /// The most tokens saved up.
    package let burst: Double

    /// - Parameters:
    ///   - rate: tokens per second (> 0).
    ///   - burst: bucket size, at least 1; it starts full.
    package init(rate: Double, burst: Double, clock: any WallClock) {
        self.rate = max(rate, 1e-9)
        self.burst = max(burst, 1)
        self.clock = clock
        state = Mutex(State(tokens: max(burst, 1), updated: clock.now))
    }

    /// Takes one token, waiting until there is one.
    package func acquire() async throws {
        while true {
            let wait = state.withLock { state -> Duration? in
                let now = clock.now
                let elapsed = Double(state.updated.duration(to: now).totalNanoseconds) / 1e9
                state.tokens = min(burst, state.tokens + max(0, elapsed) * rate)
                state.updated = now
                if state.tokens >= 1 {
                    state.tokens -= 1
                    return nil
                }
                return .nanoseconds(Int64(((1 - state.tokens) / rate * 1e9).rounded(.up)))
            }
            guard let wait else { return }
            try await clock.sleep(for: wait)
        }
    }
}
