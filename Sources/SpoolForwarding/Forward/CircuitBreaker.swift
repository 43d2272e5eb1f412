import Spool
import Synchronization

/// A circuit breaker for one sink: after `failureThreshold` consecutive failures it opens (no
/// requests); after `coolDown` it lets one probe through (half-open); a success closes it, a
/// failure opens it again. Every change of state is reported through `onChange`.
package final class CircuitBreaker: Sendable {
    /// Where the breaker stands.
    package enum State: String, Sendable, Hashable {
        case closed, open, halfOpen = "half-open"
    }

    /// Thresholds, with documented defaults.
    package struct Configuration: Sendable, Hashable {
        /// Consecutive failed requests that open the breaker. Default 5.
        package var failureThreshold: Int = 5
        /// How long it stays open before a probe. Default 30 s.
        package var coolDown: Duration = .seconds(30)
        package init() {}
    }

    private struct Inner {
        var state: State = .closed
        var failures = 0
        var openUntil = UnixInstant(nanoseconds: 0)
        var probeInFlight = false
    }
    private let inner = Mutex(Inner())
    private let configuration: Configuration
    private let clock: any WallClock
    private let onChange: @Sendable (State, State) -> Void

    package init(configuration: Configuration = Configuration(), clock: any WallClock,
                onChange: @escaping @Sendable (_ from: State, _ to: State) -> Void = { _, _ in }) {
        self.configuration = configuration
        self.clock = clock
        self.onChange = onChange
    }

    package var state: State { inner.withLock { $0.state } }

    /// Waits until a request may go: at once when closed; after the cool-down when open (then as
    /// the one probe); while another probe is out, until it settles.
    package func permit() async throws {
        while true {
            enum Decision { case go, sleep(Duration), retrySoon }
            var transition: (State, State)?
            let decision = inner.withLock { inner -> Decision in
                switch inner.state {
                case .closed:
                    return .go
                case .open:
                    let now = clock.now
                    if now < inner.openUntil { return .sleep(now.duration(to: inner.openUntil)) }
                    inner.state = .halfOpen
                    inner.probeInFlight = true
                    transition = (.open, .halfOpen)
                    return .go
                case .halfOpen:
                    if inner.probeInFlight { return .retrySoon }
                    inner.probeInFlight = true
                    return .go
                }
            }
            if let transition { onChange(transition.0, transition.1) }
            switch decision {
            case .go: return
            case .sleep(let duration): try await clock.sleep(for: duration)
            case .retrySoon: try await clock.sleep(for: min(configuration.coolDown, .milliseconds(100)))
            }
        }
    }

    /// Records the outcome of a request that `permit()` let through.
    package func record(success: Bool) {
        let transition = inner.withLock { inner -> (State, State)? in
            let before = inner.state
            inner.probeInFlight = false
            if success {
                inner.failures = 0
                inner.state = .closed
            } else {
                inner.failures += 1
                if inner.state == .halfOpen || inner.failures >= configuration.failureThreshold {
                    inner.state = .open
                    inner.openUntil = clock.now.advanced(by: configuration.coolDown)
                }
            }
            return before == inner.state ? nil : (before, inner.state)
        }
        if let transition { onChange(transition.0, transition.1) }
    }
}
