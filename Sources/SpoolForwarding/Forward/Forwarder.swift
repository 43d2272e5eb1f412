import Foundation
import ServiceLifecycle
import Spool
import Synchronization

/// Forwards a spool to every sink of a configuration, as a swift-service-lifecycle `Service`:
/// one scheduler per sink, over one shared transport. Made by
/// ``SpoolConfiguration/makeForwarder(store:name:httpClient:environment:)``.
///
/// On graceful shutdown (SIGTERM, SIGINT through a `ServiceGroup`, or task cancellation) it stops
/// claiming, gives requests in flight up to `shutdownGracePeriod` (5 s) to finish, then abandons
/// them: everything acknowledged is already on disk, and what was not is sent again by the next
/// run. A `pushgateway` sink's counters are then pushed once more, for up to another 5 s.
///
/// ```swift
/// let forwarder = try configuration.makeForwarder(store: store, name: "billing")
/// // The store's background work first: it stops after the forwarder's last acknowledgement.
/// let group = ServiceGroup(services: [SpoolStoreService(store), forwarder],
///                          gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class Forwarder: Service, Sendable {
    package let schedulers: [SinkScheduler]
    package let transport: Transport
    /// How long requests in flight may finish after shutdown was asked for. Default 5 s.
    package let shutdownGracePeriod: Duration
    private let clock: any WallClock
    /// Test-only: awaited in each scheduler's task before the scheduler runs (one that starts late).
    private let beforeSchedulerRuns: (@Sendable (String) async -> Void)?
    /// The `pushgateway` sinks' pushers: they push while the schedulers run, and once more after
    /// the last scheduler has stopped, so the final push carries the last acknowledged counts.
    package let pushers: [PushgatewayPusher]
    /// Set by the first `run()`: a forwarder runs once.
    private let hasRun = Atomic<Bool>(false)

    package convenience init(schedulers: [SinkScheduler], transport: Transport, shutdownGracePeriod: Duration = .seconds(5),
                             clock: any WallClock = SystemClock(), pushers: [PushgatewayPusher] = []) {
        self.init(schedulers: schedulers, transport: transport, shutdownGracePeriod: shutdownGracePeriod, clock: clock,
                  pushers: pushers, beforeSchedulerRuns: nil)
    }

    init(schedulers: [SinkScheduler], transport: Transport, shutdownGracePeriod: Duration, clock: any WallClock,
         pushers: [PushgatewayPusher] = [], beforeSchedulerRuns: (@Sendable (String) async -> Void)?) {
        self.schedulers = schedulers
        self.transport = transport
        self.shutdownGracePeriod = shutdownGracePeriod
        self.clock = clock
        self.pushers = pushers
        self.beforeSchedulerRuns = beforeSchedulerRuns
    }

    /// Forwards until graceful shutdown or cancellation, then shuts down the HTTP client the
    /// forwarder made (one the app gave, `makeForwarder(store:name:httpClient:)`, is left
    /// running): a forwarder runs once.
    /// - Throws: `SpoolError` when a sink cannot be registered, or what a scheduler threw;
    ///   `SpoolError` with code `.closed` when this forwarder has run before (make a new one:
    ///   its HTTP client is shut down, and every request would fail and be retried forever).
    public func run() async throws {
        guard !hasRun.exchange(true, ordering: .acquiringAndReleasing) else {
            throw SpoolError(.closed, "this forwarder has already run, and its HTTP client is shut down; make a new one with makeForwarder to forward again")
        }
        do {
            try await run(until: .cancelled)
        } catch {
            try? await transport.shutdown()
            throw error
        }
        try? await transport.shutdown()
    }

    /// Forwards until `stop`; on graceful shutdown, drains within the grace period.
    ///
    /// Every sink is registered before any scheduler runs: a sink registered only when its
    /// scheduler starts could find entries gone that another new sink had already delivered
    /// (entries leave once every *registered* sink has passed them).
    /// - Throws: ``SpoolError`` when a sink cannot be registered (nothing was sent then), or
    ///   what a scheduler threw.
    package func run(until stop: SinkScheduler.Stop) async throws {
        for scheduler in schedulers {
            let name = scheduler.configuration.name
            _ = try await scheduler.withStore("register") { store throws(SpoolError) in try store.registerSink(name) }
        }
        // Unstructured, so that a graceful shutdown does not stop them with the schedulers: they
        // stop after them, and the final push follows the last acknowledgement.
        let pushing = pushers.map { pusher in Task { await pusher.pushUntilCancelled() } }
        do {
            try await forward(until: stop)
        } catch {
            await finishPushing(pushing)
            throw error
        }
        await finishPushing(pushing)
    }

    /// Stops the pushers' loops, then pushes each sink's counters once more, all at once, for at
    /// most `shutdownGracePeriod`: a Pushgateway that does not answer does not hold the
    /// forwarder's stop for its request timeout (a push still under way then fails when the
    /// transport shuts down; the gateway keeps the previous counts, and the next run pushes).
    private func finishPushing(_ pushing: [Task<Void, Never>]) async {
        for task in pushing { task.cancel() }
        let pushers = self.pushers
        guard !pushers.isEmpty else { return }
        let finished = AsyncStream<Void>.makeStream()
        let pushed = Atomic<Bool>(false)
        // Unstructured both: whichever ends first ends the wait (a task group would wait for
        // a push, which no cancellation cuts short).
        Task {
            for task in pushing { await task.value }
            await withTaskGroup(of: Void.self) { group in
                for pusher in pushers { group.addTask { await pusher.pushFinal() } }
            }
            pushed.store(true, ordering: .releasing)
            finished.continuation.finish()
        }
        let (clock, grace) = (self.clock, shutdownGracePeriod)
        let deadline = Task {
            try? await clock.sleep(for: grace)
            finished.continuation.finish()
        }
        for await _ in finished.stream {}
        deadline.cancel()
        if !pushed.load(ordering: .acquiring) {
            // Each pusher whose own final push has not ended: another's may have.
            for pusher in pushers { pusher.reportFinalPushAbandoned(after: grace) }
        }
    }

    private func forward(until stop: SinkScheduler.Stop) async throws {
        let schedulers = self.schedulers
        let grace = shutdownGracePeriod
        let clock = self.clock
        let beforeSchedulerRuns = self.beforeSchedulerRuns
        let shutdown = AsyncStream<Void>.makeStream()
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for scheduler in schedulers {
                    group.addTask {
                        await beforeSchedulerRuns?(scheduler.configuration.name)
                        try await scheduler.run(until: stop)
                        return true
                    }
                }
                // The deadline: after a shutdown request, requests in flight get `grace`.
                group.addTask {
                    for await _ in shutdown.stream { break }
                    try await clock.sleep(for: grace)
                    return false
                }
                var running = schedulers.count
                while running > 0, let result = await group.nextResult() {
                    switch result {
                    case .success(true): running -= 1
                    case .success(false): group.cancelAll()  // the grace period is over
                    case .failure(let error):
                        if error is CancellationError { running -= 1; continue }
                        group.cancelAll()
                        throw error
                    }
                }
                group.cancelAll()  // ends the deadline watcher
            }
        } onGracefulShutdown: {
            // Stop claiming at once; batches in flight settle or are abandoned at the deadline.
            for scheduler in schedulers { scheduler.requestStop() }
            shutdown.continuation.yield()
        }
    }
}
