import Spool

/// When to try a failed request again: quick retries inside one send, then the scheduler's
/// slower backoff, which never gives up on a durable batch.
///
/// Attempt 1 goes at once. After a failed attempt `n` the wait is
/// - for the quick retries (`n < quickAttempts`): `quickBase × 4^(n−1)` plus 0 to `quickJitter`,
///   that is about 100–150 ms, 400–450 ms, 1600–1650 ms with the defaults;
/// - after that: full jitter, a uniform wait between `minimumBackoff` and
///   `min(maximumBackoff, slowBase × 2^(k−1))` for the k-th slow retry.
///
/// A `Retry-After` from the destination replaces the computed wait, capped at `maximumRetryAfter`.
package struct RetryPolicy: Sendable, Hashable {
    /// Attempts in the quick phase, the first included. Default 4.
    package var quickAttempts: Int = 4
    /// Default 100 ms.
    package var quickBase: Duration = .milliseconds(100)
    /// Default 50 ms.
    package var quickJitter: Duration = .milliseconds(50)
    /// The first slow wait's ceiling; it doubles after each failure. Default 2 s.
    package var slowBase: Duration = .seconds(2)
    /// Default 100 ms: even full jitter waits at least this long.
    package var minimumBackoff: Duration = .milliseconds(100)
    /// Cap of the slow backoff. Default 60 s.
    package var maximumBackoff: Duration = .seconds(60)
    /// Cap of a destination's `Retry-After`. Default 5 minutes.
    package var maximumRetryAfter: Duration = .seconds(300)
    /// How long a misconfigured sink (401, 403, 404) pauses before it tries again. Default 5 minutes.
    package var misconfigurationPause: Duration = .seconds(300)

    package init() {}

    /// The same schedule compressed so that the first quick wait is `base` (jitter `base`, slow
    /// ceilings from 5× to 20× `base`, Retry-After capped at 50×, a misconfiguration pause of
    /// 20×): for tests and short-lived tools, never for production.
    package static func compressed(base: Duration) -> RetryPolicy {
        var policy = RetryPolicy()
        policy.quickBase = base
        policy.quickJitter = base
        policy.slowBase = base * 5
        policy.minimumBackoff = base
        policy.maximumBackoff = base * 20
        policy.maximumRetryAfter = base * 50
        policy.misconfigurationPause = base * 20
        return policy
    }

    /// The wait after failed attempt `attempt` (1-based), or the destination's `retryAfter`.
    package func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil, using random: inout some RandomNumberGenerator) -> Duration {
        if let retryAfter {
            return min(max(retryAfter, .zero), maximumRetryAfter)
        }
        if attempt < quickAttempts {
            let factor = Int64(1) << (2 * Int64(max(0, attempt - 1)))  // 4^(n-1)
            let jitter = Int64.random(in: 0...max(0, quickJitter.totalNanoseconds), using: &random)
            return quickBase * Int(factor) + .nanoseconds(jitter)
        }
        let step = min(attempt - quickAttempts, 30)
        let ceiling = min(maximumBackoff, slowBase * (1 << step))
        let low = min(minimumBackoff, ceiling).totalNanoseconds
        return .nanoseconds(Int64.random(in: low...max(low, ceiling.totalNanoseconds), using: &random))
    }
}
