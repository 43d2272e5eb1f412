import Foundation
import Metrics
import Spool
import Synchronization

/// Forwards one sink's entries: claims batches in id order under the sink's lease, sends them
/// through the shared ``Transport``, and acknowledges them in order. Up to `maxInFlight` batches
/// are out at once, but the sink's position only advances over a contiguous prefix of settled
/// batches, so a crash never skips an entry.
package final class SinkScheduler: Sendable {
    /// Batching, pipelining and retry settings of one sink, with documented defaults.
    package struct Configuration: Sendable {
        /// The sink's name: its position in the spool. Default the sink's kind.
        package var name: String
        /// Most entries per request. Default 2000 (the sink may ask for fewer). Each batch costs
        /// a request and a synced acknowledgement, so larger batches drain a backlog on less CPU,
        /// but each batch in flight is held in memory: draining 10 million entries, `spool
        /// forward` peaks at 24.5 MiB with 1000 (one run, session 10), 29.2 with 2000 (median
        /// of ten, session 12) and 30.6–31.4 with 4000 (BENCHMARKS.md, "Session 10", "Session 12").
        package var maxBatchEntries: Int = Self.defaultMaxBatchEntries
        package static let defaultMaxBatchEntries = 2000
        /// Most bytes of topic, message and context per request. Default 1 MiB.
        package var maxBatchBytes: Int = 1 << 20
        /// A partial batch leaves after waiting this long for more entries. Default 1 s.
        package var maxBatchWait: Duration = .seconds(1)
        /// Batches in flight at once (pipelining). 1 gives strict in-order delivery. Default 2.
        package var maxInFlight: Int = 2
        /// The lease on the sink, renewed while working. Default 30 s.
        package var lease: Duration = .seconds(30)
        /// How often an idle sink looks for new entries. Default 100 ms.
        package var pollInterval: Duration = .milliseconds(100)
        package var retry = RetryPolicy()
        package var breaker = CircuitBreaker.Configuration()
        /// Requests per second allowed, with a burst; nil for no limit. Default nil.
        package var rateLimit: (perSecond: Double, burst: Double)?
        /// Where metrics go; nil for the process's bootstrapped `MetricsSystem`. Default nil.
        package var metricsFactory: (any MetricsFactory)?
        /// Headers with credentials, added by the transport; never logged.
        package var credentials: [SinkRequest.Header] = []
        /// After this many entries in a row rejected for good (dead-lettered), the sink is most
        /// likely misconfigured (a wrong schema, tenant or labels), not fed bad entries: it
        /// pauses as misconfigured instead of dead-lettering the rest, and tries again after
        /// `retry.misconfigurationPause`. 0: never. Default 100.
        package var pauseAfterConsecutiveRejections: Int = 100

        package init(name: String) { self.name = name }
    }

    /// What one batch came to.
    struct Settlement: Sendable {
        var delivered = 0
        var deadLetters: [DeadLetter] = []
        var rejectedByDestination = 0
        /// What the destination said of the entries it dropped (the first such answer).
        var rejectionReason: String?

        mutating func add(_ other: Settlement) {
            delivered += other.delivered
            deadLetters += other.deadLetters
            rejectedByDestination += other.rejectedByDestination
            rejectionReason = rejectionReason ?? other.rejectionReason
        }
    }

    let store: SpoolStore
    let sink: any SinkProtocol
    let transport: Transport
    let configuration: Configuration
    let owner: String
    let clock: any WallClock
    let report: @Sendable (LogEntry) -> Void
    let breaker: CircuitBreaker
    let bucket: TokenBucket?
    let metrics: SinkMetrics
    let deliveryLatency: DeliveryLatencyMetric
    private let progress = Mutex(Progress())
    private let stopping = Atomic<Bool>(false)
    private let finishing = Atomic<Bool>(false)
    private let leaseLost = Atomic<Bool>(false)
    /// A busy spool's episode: the store calls now waiting it out, and whether it was reported.
    /// It ends when the last of them gets through, not when any call does: the claim ahead and
    /// an acknowledgement may run at once, and one of them succeeding while the other still
    /// waits is the same episode, reported once.
    let busyEpisode = Mutex<(waiting: Int, reported: Bool)>((0, false))
    /// Entries dead-lettered since the last one delivered (``Configuration/pauseAfterConsecutiveRejections``).
    let consecutiveRejections = Atomic<Int>(0)

    /// Stops claiming: the scheduler settles what is in flight (no new retries) and returns. A
    /// batch waiting for its retry (a backoff, a misconfiguration pause) stops waiting at once:
    /// it stays in the spool for the next run, and shutdown does not wait out its grace period.
    package func requestStop() {
        stopping.store(true, ordering: .releasing)
        for wait in waits.withLock({ Array($0.values) }) { wait.cancel() }
    }

    /// The waits between attempts in progress, so ``requestStop()`` can end them.
    private let waits = Mutex<[Int: Task<Void, any Error>]>([:])
    private let nextWait = Atomic<Int>(0)

    /// Sleeps `duration` on the clock, or until ``requestStop()`` (then throws
    /// `CancellationError`), or until the calling task is cancelled.
    func waitBeforeRetry(_ duration: Duration) async throws {
        let clock = self.clock
        let sleep = Task { try await clock.sleep(for: duration) }
        let key = nextWait.add(1, ordering: .relaxed).newValue
        // Registered before the check: a stop after it cancels the wait, one before it is seen.
        waits.withLock { $0[key] = sleep }
        defer { _ = waits.withLock { $0.removeValue(forKey: key) } }
        if isStopping { sleep.cancel() }
        try await withTaskCancellationHandler {
            try await sleep.value
        } onCancel: {
            sleep.cancel()
        }
    }

    /// Makes a running scheduler return once nothing is pending, as if it had been started with
    /// `run(until: .empty)`: for a producer that has just finished (`spool forward --stdin
    /// --until-empty` once standard input ended). Until then partial batches wait as usual.
    package func finishWhenEmpty() {
        finishing.store(true, ordering: .releasing)
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Counters of what this scheduler did, for progress displays and tests.
    package struct Progress: Sendable, Hashable {
        package var delivered = 0
        package var deadLettered = 0
        package var retries = 0
        package var requests = 0
        package var breaker: CircuitBreaker.State = .closed
        package var paused = false
        /// Why the sink is paused, while ``paused``.
        package var pauseReason: PauseReason?
        /// Requests that did not deliver their batch: retried, split, rejected or misconfigured.
        package var failures = 0
        /// When the current run of failed attempts began (a network error, a retryable status, a
        /// misconfiguration); nil once an attempt reached the destination and was answered.
        package var failingSince: UnixInstant?
        /// Batches claimed and not yet settled: sent, or (the newest, in a backlog) encoded and
        /// waiting for the acknowledgement before it.
        package var inFlight = 0
    }

    /// Why a sink stopped sending for a while (it tries again after `retry.misconfigurationPause`).
    package enum PauseReason: String, Sendable, Hashable, CaseIterable {
        /// 401, 403, 404 or a bad URL.
        case misconfigured
        /// ``Configuration/pauseAfterConsecutiveRejections`` entries in a row were rejected for good.
        case rejections
    }

    package var currentProgress: Progress {
        var current = progress.withLock { $0 }
        current.breaker = breaker.state
        return current
    }

    /// - Parameters:
    ///   - owner: who holds the lease (shown to a second forwarder). ``LeaseOwner/thisProcess(_:)``
    ///     lets a forwarder restarted on the same host after a crash take the lease at once.
    ///   - report: where loud events go (misconfiguration, breaker changes, dead letters).
    ///     Default nil: where the store reports, its ``SpoolStore/Configuration/logger`` or
    ///     one JSON line on stderr.
    package init(store: SpoolStore, sink: any SinkProtocol, transport: Transport, configuration: Configuration,
                owner: String, clock: any WallClock = SystemClock(), report: (@Sendable (LogEntry) -> Void)? = nil) {
        let report = report ?? store.reporter
        self.store = store
        self.sink = sink
        self.transport = transport
        self.configuration = configuration
        self.owner = owner
        self.clock = clock
        self.report = report
        let name = configuration.name
        let metrics = SinkMetrics(sink: name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.metrics = metrics
        deliveryLatency = DeliveryLatencyMetric(sink: name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        breaker = CircuitBreaker(configuration: configuration.breaker, clock: clock) { from, to in
            metrics.breakerState.record(to == .closed ? 0 : to == .halfOpen ? 1 : 2)
            report(LogEntry(timestamp: clock.now.nanoseconds, level: to == .open ? .error : .notice,
                            topic: "spool.forward.breaker", message: "sink '\(name)': circuit breaker \(from.rawValue) → \(to.rawValue)",
                            context: ["sink": .string(name), "from": .string(from.rawValue), "to": .string(to.rawValue)]))
        }
        bucket = configuration.rateLimit.map { TokenBucket(rate: $0.perSecond, burst: $0.burst, clock: clock) }
    }

    /// How ``run(until:)`` ends.
    package enum Stop: Sendable {
        /// Run until cancelled.
        case cancelled
        /// Return once nothing is pending for this sink (and nothing is in flight).
        case empty
    }

    /// Forwards until cancelled (or, with `.empty`, until nothing is pending). On cancellation it
    /// stops claiming and abandons requests in flight; acknowledged progress is already on disk,
    /// unacknowledged batches are sent again by the next run.
    ///
    /// The sink's lease is taken first and renewed every third of its duration for as long as
    /// the scheduler runs, whatever it is waiting for (a response, a backoff, a pause).
    /// - Throws: `.leaseHeld` when another forwarder holds the sink; `.notLeaseHolder` when the
    ///   lease was taken over while this scheduler ran (it had lapsed, e.g. the process was
    ///   stopped past its expiry): the scheduler then stops sending at once, acknowledges
    ///   nothing more and reports `spool.forward.lease_lost`.
    package func run(until stop: Stop = .cancelled) async throws {
        let (name, owner, lease) = (configuration.name, owner, configuration.lease)
        try await withStore("register") { store throws(SpoolError) in try store.registerSink(name) }
        try await withStore("take the lease") { store throws(SpoolError) in try store.acquireLease(sink: name, owner: owner, duration: lease) }
        defer { try? store.releaseLease(sink: name, owner: owner) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.keepLease() }
            group.addTask { try await self.forward(until: stop) }
            // The first to end decides: forwarding finished (or failed), or the lease was lost.
            _ = try await group.next()
            group.cancelAll()
        }
    }

    // MARK: - Lease

    /// Renews the lease every third of its duration until cancelled, so no wait of the
    /// forwarding (a request, a backoff, a pause) can let it lapse.
    private func keepLease() async throws {
        while true {
            try await clock.sleep(for: configuration.lease / 3)
            try await holdLease()
        }
    }

    /// Renews the lease if it needs it; a lease taken by someone else ends the scheduler: it is
    /// reported once, and every later call throws too, so nothing more is sent.
    func holdLease() async throws {
        let (name, owner, lease) = (configuration.name, owner, configuration.lease)
        do {
            try await withStore("renew the lease") { store throws(SpoolError) in try store.renewLease(sink: name, owner: owner, duration: lease) }
        } catch let error as SpoolError {
            throw lost(error)
        }
    }

    /// Reports, once, that the lease is gone when `error` says so; returns `error`.
    private func lost(_ error: SpoolError) -> SpoolError {
        if error.code == .notLeaseHolder && !leaseLost.exchange(true, ordering: .acquiringAndReleasing) {
            report(event(.critical, "spool.forward.lease_lost",
                         "sink '\(configuration.name)': \(owner) lost its lease to another forwarder (it lapsed, e.g. this process was stopped past its expiry). It stops sending at once and acknowledges nothing more; the holder sends the unacknowledged batches again.",
                         ["owner": .string(owner), "error": .string(error.message)]))
        }
        return error
    }

    // MARK: - Forwarding

    private func forward(until stop: Stop) async throws {
        let (name, owner) = (configuration.name, owner)
        var cursor = try await withStore("read the position") { store throws(SpoolError) in try store.position(of: name) }
        var inFlight: [Flight] = []
        var partialSince: UnixInstant?
        defer {
            for flight in inFlight { flight.cancel() }
            countInFlight(0)
        }
        let batchEntries = max(1, min(configuration.maxBatchEntries, sink.maximumEntriesPerRequest ?? .max))
        var lastClaimWasFull = false
        var gaugesUpdated: UnixInstant?
        while !Task.isCancelled {
            let untilEmpty = stop == .empty || finishing.load(ordering: .acquiring)
            if gaugesUpdated.map({ $0.duration(to: clock.now) >= .seconds(1) }) ?? true {
                gaugesUpdated = clock.now
                await recordBacklog()
            }
            // Keep the pipe full.
            while inFlight.count < max(1, configuration.maxInFlight) && !isStopping {
                let batch = try await claim(after: cursor, maxCount: batchEntries)
                guard !batch.entries.isEmpty else { partialSince = nil; lastClaimWasFull = false; break }
                let full = isFull(batch, maxCount: batchEntries)
                lastClaimWasFull = full
                if !full && !untilEmpty {
                    let since = partialSince ?? clock.now
                    partialSince = since
                    if since.duration(to: clock.now) < configuration.maxBatchWait { break }
                }
                partialSince = nil
                cursor = batch.lastID
                metrics.batchSize.record(batch.entries.count)
                let entries = batch.entries[...]
                inFlight.append(Flight(lastID: batch.lastID, task: Task { try await self.deliver(entries, attempts: 0) }))
                countInFlight(inFlight.count)
            }
            guard let oldest = inFlight.first else {
                if untilEmpty || isStopping { return }
                let wait = partialSince.map { max(.milliseconds(1), configuration.maxBatchWait - $0.duration(to: clock.now)) }
                try await clock.sleep(for: min(wait ?? configuration.pollInterval, configuration.pollInterval))
                continue
            }
            // Settle in order: the oldest batch first, whatever finished meanwhile. The deliveries
            // are unstructured tasks, which a cancelled caller does not cancel by itself: pass it
            // on, or a batch in backoff (or a paused sink) would hold shutdown for its whole wait.
            let pending = inFlight
            let settlement = try await withTaskCancellationHandler {
                try await oldest.task.value
            } onCancel: {
                for flight in pending { flight.cancel() }
            }
            inFlight.removeFirst()
            countInFlight(inFlight.count)
            let through = oldest.lastID
            let (dropped, reason) = (settlement.rejectedByDestination, settlement.rejectionReason)
            let acknowledged = Task {
                do {
                    let acknowledgement = try await self.withStore("acknowledge") { store throws(SpoolError) in
                        try store.acknowledge(sink: name, owner: owner, through: through,
                                              delivered: settlement.delivered, deadLetters: settlement.deadLetters,
                                              droppedByDestination: dropped, dropReason: reason)
                    }
                    self.deliveryLatency.record(acknowledgement)
                    // Only what the acknowledgement stored: an entry dropped at the size bound
                    // while its batch was out is a drop, not also a dead letter.
                    let stored = Set(acknowledgement.deadLetterIDs)
                    self.reportDeadLetters(settlement.deadLetters.filter { stored.contains($0.entryID) })
                    return acknowledgement.deadLetterIDs.count
                } catch let error as SpoolError {
                    throw self.lost(error)
                }
            }
            // A backlog: while the acknowledgement writes and syncs (the writer's connection),
            // the next batch is claimed (the reader's, without a sync of its own), encoded and
            // compressed. It is sent only once the acknowledgement has committed and its
            // entries are on disk, so no more than `maxInFlight` batches are ever sent and not
            // acknowledged, and nothing sent can vanish with a power cut. A batch that is not
            // full is claimed again when its turn comes.
            var claimFailure: (any Error)?
            if lastClaimWasFull && !isStopping && inFlight.count < max(1, configuration.maxInFlight) {
                do {
                    let batch = try await claim(after: cursor, maxCount: batchEntries, syncing: false)
                    if !batch.entries.isEmpty && isFull(batch, maxCount: batchEntries) {
                        cursor = batch.lastID
                        metrics.batchSize.record(batch.entries.count)
                        let entries = batch.entries[...]
                        let sendable = Task {
                            _ = try await acknowledged.value
                            try Task.checkCancellation()
                            try await self.makeDurable(through: batch.lastID)
                        }
                        let task = Task { try await self.deliver(entries, attempts: 0, after: sendable) }
                        inFlight.append(Flight(lastID: batch.lastID, task: task, gate: sendable))
                        countInFlight(inFlight.count)
                    } else {
                        lastClaimWasFull = false
                    }
                } catch {
                    claimFailure = error  // after the acknowledgement is counted
                }
            }
            // A cancelled scheduler stops waiting for a busy spool here, as it did before the
            // acknowledgement had a task of its own.
            let waiting = inFlight
            let deadLettered = try await withTaskCancellationHandler {
                try await acknowledged.value
            } onCancel: {
                acknowledged.cancel()
                for flight in waiting { flight.cancel() }
            }
            progress.withLock {
                $0.delivered += settlement.delivered
                $0.deadLettered += deadLettered
            }
            metrics.delivered.increment(by: settlement.delivered)
            if deadLettered > 0 { metrics.deadLettered.increment(by: deadLettered) }
            if settlement.rejectedByDestination > 0 { metrics.dropped.increment(by: settlement.rejectedByDestination) }
            if let claimFailure { throw claimFailure }
        }
        throw CancellationError()
    }

    /// A batch out: its delivery, and for a batch claimed ahead the gate it waits at before it
    /// is sent (the acknowledgement before it, then its sync). Cancelled together.
    private struct Flight: Sendable {
        var lastID: Int64
        var task: Task<Settlement, any Error>
        var gate: Task<Void, any Error>?

        func cancel() {
            task.cancel()
            gate?.cancel()
        }
    }

    /// Claims the batch after `cursor` under the lease (renewed first if it needs it). Without
    /// `syncing`, ``makeDurable(through:)`` must come before anything of it is sent.
    private func claim(after cursor: Int64, maxCount: Int, syncing: Bool = true) async throws -> ClaimedBatch {
        try await holdLease()
        let (name, owner, lease, maxBytes) = (configuration.name, owner, configuration.lease, configuration.maxBatchBytes)
        return try await withStore("claim") { store throws(SpoolError) in
            try store.claim(sink: name, owner: owner, lease: lease, after: cursor, maxCount: maxCount, maxBytes: maxBytes, syncing: syncing)
        }
    }

    /// Syncs the WAL unless entries up to `id` are known to be on disk (usually they are: the
    /// acknowledgement just before synced its commit).
    private func makeDurable(through id: Int64) async throws {
        guard !store.isDurable(through: id) else { return }
        try await withStore("sync") { store throws(SpoolError) in try store.makeDurable(through: id) }
    }

    /// A batch at its entry bound, or within a tenth of its byte bound: waiting would not make
    /// a larger request.
    private func isFull(_ batch: ClaimedBatch, maxCount: Int) -> Bool {
        if batch.entries.count >= maxCount { return true }
        let bytes = batch.entries.reduce(0) { $0 + $1.topicByteCount + $1.messageByteCount + $1.contextByteCount }
        return bytes * 10 >= configuration.maxBatchBytes * 9
    }

    /// Spool depth, oldest pending age and the WAL's size, as gauges.
    private func recordBacklog() async {
        let name = configuration.name
        let path = store.path
        guard let (backlog, walBytes) = try? await BlockingWork.run({ () throws(SpoolError) in
            (try self.store.backlog(of: name), Writer.fileSize(path + "-wal"))
        }) else { return }
        metrics.depth.record(backlog.entries)
        let age = backlog.oldestPendingSince.map { UnixTime.seconds(nanoseconds: clock.now.nanoseconds &- $0) } ?? 0
        metrics.oldestPendingAge.record(max(0, age))
        metrics.walBytes.record(walBytes)
    }

    func nextRandomDelay(afterAttempt attempt: Int, retryAfter: Duration?) -> Duration {
        // The system generator has no state to share: one per call needs no lock.
        var generator = SystemRandomNumberGenerator()
        return configuration.retry.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &generator)
    }

    /// Marks the sink paused without counting another request.
    func markPaused(_ reason: PauseReason) {
        progress.withLock {
            $0.paused = true
            $0.pauseReason = reason
        }
        metrics.recordPause(reason)
    }

    /// Counts one attempt. `failing` (no answer, a retryable or a misconfigured one) starts or
    /// continues a run of failures (``Progress/failingSince``); any other answer ends it.
    func count(request: Void = (), retry: Bool = false, failed: Bool = false, failing: Bool = false, paused: Bool? = nil) {
        let now = clock.now
        let resumed = progress.withLock { progress -> Bool in
            progress.requests += 1
            if retry { progress.retries += 1 }
            if failed { progress.failures += 1 }
            progress.failingSince = failing ? progress.failingSince ?? now : nil
            let wasPaused = progress.paused
            if let paused {
                progress.paused = paused
                if !paused { progress.pauseReason = nil }
            }
            return wasPaused && !progress.paused
        }
        if resumed { metrics.recordPause(nil) }
    }

    func countInFlight(_ batches: Int) {
        progress.withLock { $0.inFlight = batches }
        metrics.inFlight.record(batches)
    }
}
