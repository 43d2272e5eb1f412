import Foundation

/// A point in wall-clock time: nanoseconds since the Unix epoch, UTC.
///
/// Spool's clocks measure wall time because what they time is shared with other processes and
/// with people: entry timestamps, lease expiries in the spool file, ages in `stats`.
package struct UnixInstant: InstantProtocol, Sendable, Hashable, Codable {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    package var nanoseconds: Int64

    package init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    package func advanced(by duration: Duration) -> UnixInstant {
        UnixInstant(nanoseconds: nanoseconds &+ duration.totalNanoseconds)
    }

    package func duration(to other: UnixInstant) -> Duration {
        .nanoseconds(other.nanoseconds &- nanoseconds)
    }

    package static func < (lhs: UnixInstant, rhs: UnixInstant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}

/// A clock whose instants are Unix times. Every part of Spool that reads the time or waits takes
/// one, so that tests drive time with a manual clock instead of sleeping (see `SpoolTesting`).
package protocol WallClock: Clock where Instant == UnixInstant, Duration == Swift.Duration {}

/// The system's real-time clock (`CLOCK_REALTIME`); waits use the monotonic clock underneath.
package struct SystemClock: WallClock {
    package init() {}

    package var now: UnixInstant {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UnixInstant(nanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    package var minimumResolution: Duration { .nanoseconds(1) }

    package func sleep(until deadline: UnixInstant, tolerance: Duration?) async throws {
        let delay = now.duration(to: deadline)
        if delay > .zero { try await Task.sleep(for: delay, tolerance: tolerance) }
        try Task.checkCancellation()
    }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at the 64-bit limits.
    package var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole &+ attoseconds / 1_000_000_000
    }
}
