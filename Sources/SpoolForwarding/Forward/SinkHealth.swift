import Spool

/// Whether a sink is doing its job, as `GET /health` of `spool forward --metrics-address` says
/// it: a sink is healthy while it delivers or has nothing to do, and unhealthy while it is
/// paused (misconfigured, or rejecting entry after entry) or has failed without a break for
/// longer than a threshold (the destination down, the breaker open, every attempt retried).
///
/// ```swift
/// let health = scheduler.health(failingLongerThan: .seconds(60))
/// if !health.isHealthy { print(health.problem ?? "") }
/// ```
package struct SinkHealth: Sendable, Hashable {
    /// Where the sink stands.
    package enum Status: String, Sendable, Hashable {
        /// Delivering, or nothing to deliver, or failing for less than the threshold.
        case ok
        /// Paused after a misconfiguration or a run of rejections; it tries again by itself.
        case paused
        /// Every attempt failed for longer than the threshold.
        case failing
    }

    /// The sink's name.
    package var sink: String
    /// Where it stands.
    package var status: Status
    /// Why it is paused, with ``Status/paused``.
    package var pauseReason: SinkScheduler.PauseReason?
    /// How long its attempts have failed without a break (0 when they have not).
    package var failingFor: Duration
    /// The circuit breaker's state.
    package var breaker: CircuitBreaker.State

    /// Whether `/health` counts it as healthy (``Status/ok``).
    package var isHealthy: Bool { status == .ok }

    /// A sentence for people, or nil when healthy.
    package var problem: String? {
        switch status {
        case .ok: nil
        case .paused: "paused (\(pauseReason?.rawValue ?? "misconfigured")): it tries again by itself; its entries stay in the spool"
        case .failing: "failing for \(Int64(failingFor.components.seconds)) s (breaker \(breaker.rawValue)); its entries stay in the spool"
        }
    }

    /// The health of a sink from its ``SinkScheduler/Progress`` at `now`.
    /// - Parameters:
    ///   - threshold: how long attempts may fail without a break before the sink is unhealthy.
    package init(sink: String, progress: SinkScheduler.Progress, now: UnixInstant, failingLongerThan threshold: Duration) {
        self.sink = sink
        breaker = progress.breaker
        failingFor = progress.failingSince.map { max(.zero, $0.duration(to: now)) } ?? .zero
        if progress.paused {
            status = .paused
            pauseReason = progress.pauseReason ?? .misconfigured
        } else if progress.failingSince != nil && failingFor > threshold {
            status = .failing
        } else {
            status = .ok
        }
    }
}

extension SinkScheduler {
    /// The sink's health now, by the scheduler's clock (``SinkHealth``).
    /// - Parameter threshold: how long attempts may fail without a break before it is unhealthy.
    package func health(failingLongerThan threshold: Duration) -> SinkHealth {
        SinkHealth(sink: configuration.name, progress: currentProgress, now: clock.now, failingLongerThan: threshold)
    }
}
