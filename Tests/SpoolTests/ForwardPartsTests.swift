import Foundation
import Synchronization
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding


/// Waits (bounded, by yielding) until `condition` holds.
func eventually(_ what: String = "condition", _ condition: () -> Bool) async {
    for _ in 0..<200_000 {
        if condition() { return }
        await Task.yield()
    }
    Issue.record("timed out waiting for \(what)")
}

@Suite struct RetryPolicyTests {
    @Test(arguments: 0..<20)
    func quickRetriesFollowTheDesignedSchedule(seed: UInt64) {
        let policy = RetryPolicy()
        var random = SplitMix64(seed: seed)
        for (attempt, base) in [(1, 100), (2, 400), (3, 1600)] {
            let delay = policy.delay(afterAttempt: attempt, using: &random)
            #expect(delay >= .milliseconds(base) && delay <= .milliseconds(base + 50), "attempt \(attempt): \(delay)")
        }
    }

    @Test(arguments: 0..<20)
    func slowBackoffGrowsWithFullJitterUpToTheCap(seed: UInt64) {
        let policy = RetryPolicy()
        var random = SplitMix64(seed: seed)
        #expect(policy.delay(afterAttempt: 4, using: &random) <= .seconds(2))
        #expect(policy.delay(afterAttempt: 5, using: &random) <= .seconds(4))
        for attempt in 6..<60 {
            let delay = policy.delay(afterAttempt: attempt, using: &random)
            #expect(delay >= .milliseconds(100) && delay <= .seconds(60))
        }
    }

    @Test func retryAfterReplacesTheComputedWaitCapped() {
        let policy = RetryPolicy()
        var random = SystemRandomNumberGenerator()
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(7), using: &random) == .seconds(7))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(86_400), using: &random) == .seconds(300))
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(-3), using: &random) == .zero)
    }

    @Test(arguments: 0..<20)
    func anOutageOfThirtySecondsCostsABoundedNumberOfAttempts(seed: UInt64) {
        let policy = RetryPolicy()
        var random = SplitMix64(seed: seed)
        var waited = Duration.zero
        var attempts = 0
        while waited < .seconds(30) {
            attempts += 1
            waited += policy.delay(afterAttempt: attempts, using: &random)
        }
        // 3 quick retries, then waits whose ceilings double from 2 s to 60 s.
        #expect(attempts < 40, "\(attempts) attempts in a 30 s outage")
    }
}

@Suite struct ConcurrencyLimiterTests {
    @Test func permitsAreGrantedInArrivalOrderAndNeverExceedTheLimit() async throws {
        let limiter = ConcurrencyLimiter(limit: 2)
        try await limiter.acquire()
        try await limiter.acquire()
        let order = Shared<[Int]>([])
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<5 {
            tasks.append(Task {
                try await limiter.acquire()
                order.update { $0.append(index) }
            })
            // Each waiter is parked before the next arrives, so arrival order is known.
            await eventually("waiter \(index) parked") { limiter.waiting == index + 1 }
        }
        for _ in 0..<5 { limiter.release() }
        for task in tasks { try await task.value }
        #expect(order.value == [0, 1, 2, 3, 4])
        #expect(limiter.peak == 2)
        #expect(limiter.inFlight == 2)
    }

    @Test func aCancelledWaiterLeavesTheLine() async throws {
        let limiter = ConcurrencyLimiter(limit: 1)
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        await eventually("parked") { limiter.waiting == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limiter.waiting == 0)
        limiter.release()
        #expect(limiter.inFlight == 0)
    }
}

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresProbesAfterTheCoolDownAndCloses() async throws {
        let clock = ManualClock()
        let transitions = Shared<[String]>([])
        var configuration = CircuitBreaker.Configuration()
        configuration.failureThreshold = 3
        configuration.coolDown = .seconds(30)
        let breaker = CircuitBreaker(configuration: configuration, clock: clock) { from, to in
            transitions.update { $0.append("\(from.rawValue)→\(to.rawValue)") }
        }
        for _ in 0..<2 {
            try await breaker.permit()
            breaker.record(success: false)
        }
        #expect(breaker.state == .closed)
        try await breaker.permit()
        breaker.record(success: false)
        #expect(breaker.state == .open)
        // While open, a request waits for the cool-down on the clock.
        let probe = Task { try await breaker.permit() }
        await eventually("the probe waits") { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(30))
        try await probe.value
        #expect(breaker.state == .halfOpen)
        breaker.record(success: false)
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(30))
        try await breaker.permit()
        breaker.record(success: true)
        #expect(breaker.state == .closed)
        #expect(transitions.value == ["closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"])
    }

    @Test func aSuccessResetsTheFailureCount() async throws {
        let breaker = CircuitBreaker(clock: ManualClock())
        for _ in 0..<4 { try await breaker.permit(); breaker.record(success: false) }
        try await breaker.permit()
        breaker.record(success: true)
        for _ in 0..<4 { try await breaker.permit(); breaker.record(success: false) }
        #expect(breaker.state == .closed)
    }
}

@Suite struct TokenBucketTests {
    @Test func excessWaitsOnTheClockAndIsNeverDropped() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 2, burst: 2, clock: clock)
        try await bucket.acquire()
        try await bucket.acquire()
        let third = Task { try await bucket.acquire() }
        await eventually("the third waits") { clock.sleeperCount == 1 }
        clock.advance(by: .milliseconds(500))
        try await third.value
    }
}
