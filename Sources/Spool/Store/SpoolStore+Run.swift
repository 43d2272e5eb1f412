import Foundation
import Synchronization

// The store's background work: it starts and stops with `run()`, never with `init`.

extension SpoolStore {
    /// Runs the store's background work until the task is cancelled or the store is closed:
    /// checkpoints off the append path, and in ``Durability/buffered(maxDelay:)`` mode the
    /// committer and its timer. When it stops, it commits what buffered
    /// mode still holds before it returns.
    ///
    /// ```swift
    /// var configuration = SpoolStore.Configuration()
    /// configuration.durability = .buffered(maxDelay: .milliseconds(200))
    /// let store = try SpoolStore(path: "/var/lib/myapp/logs.spool", configuration: configuration)
    /// let background = Task { try await store.run() }
    /// // … log …
    /// background.cancel()        // commits what waits, then returns
    /// try await background.value
    /// ```
    ///
    /// With SpoolForwarding, run it as a `SpoolStoreService` in the `ServiceGroup` of the
    /// forwarder, listed first, so it stops last. The work runs on threads of its own (one, two in buffered mode)
    /// (blocking: SQLite's I/O and locks); this task only waits for them.
    ///
    /// Without `run()` no thread is started and the store stays correct: the append (or
    /// acknowledgement) whose commit added 1000 pages (about 4 MiB) to the WAL
    /// runs a PASSIVE checkpoint itself once its commit is done, so that one call takes longer
    /// (about 4 MiB copied and synced) while other writers go on, and a reader never makes it
    /// wait. Buffered mode has no timer then: what waits is committed at the high-water mark,
    /// by ``flush()``, ``close()`` and when the store is released, and by the first append that
    /// finds the oldest waiting entry older than `maxDelay`. After a burst with no append to
    /// follow, entries wait in memory until one of those, and a crash meanwhile loses them; the
    /// first commit of entries that waited longer than `maxDelay` is reported once
    /// (`spool.store.buffered_without_run`).
    ///
    /// - Throws: ``SpoolError``: `.inUse` when `run()` runs already on this store, `.closed` for
    ///   a closed store, or the error of the last commit when buffered entries could not be
    ///   committed as it stopped (they stay queued for ``flush()`` or ``close()``).
    public func run() async throws {
        let running = try startBackground()
        defer { background.withLock { if $0 === running { $0 = nil } } }
        let failure = await withTaskCancellationHandler {
            await runBackground(running)
        } onCancel: {
            self.stopBackground(running)
        }
        if let failure { throw failure }
    }

    /// Runs the threads until they stop, and the timer until then; the committer's last error.
    private func runBackground(_ running: BackgroundRun) async -> SpoolError? {
        enum Finished: Sendable {
            case thread(SpoolError?)
            case timer
        }
        return await withTaskGroup(of: Finished.self) { group in
            group.addTask {
                await self.onThread {
                    self.checkpointer.serve(running.worker) { body in self.writer.withLock { _ in body() } }
                    return .thread(nil)
                }
            }
            var threads = 1
            if let committer = running.committer {
                threads += 1
                group.addTask {
                    await self.onThread {
                        .thread(committer.serve(commit: { () throws(SpoolError) in try self.flush() }, failed: { error in
                            self.reporter(LogEntry(
                                timestamp: self.now, level: .error, topic: "spool.store.buffered_commit_failed",
                                message: "a background commit failed; the entries stay in memory and are retried",
                                context: ["error": .string(error.description), "path": .string(self.path)]))
                        }))
                    }
                }
                let clock = configuration.clock
                let delay = Duration.nanoseconds(bufferedDelayNanoseconds)
                group.addTask {
                    while !Task.isCancelled {
                        do { try await clock.sleep(for: delay) } catch { break }
                        committer.request()
                    }
                    return .timer
                }
            }
            var failure: SpoolError?
            while let finished = await group.next() {
                guard case .thread(let error) = finished else { continue }
                failure = failure ?? error
                threads -= 1
                if threads == 0 { group.cancelAll() }  // the timer
            }
            return failure
        }
    }

    /// Runs `body` on a thread of its own (counted in ``backgroundThreads``) and waits for it
    /// without holding one of the cooperative pool's threads.
    private func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        backgroundThreads.add(1, ordering: .relaxed)
        return await OwnThread.run {
            defer { self.backgroundThreads.subtract(1, ordering: .relaxed) }
            return body()
        }
    }

    /// Claims the store for one run and hands requests to its threads.
    private func startBackground() throws(SpoolError) -> BackgroundRun {
        try background.withLock { current throws(SpoolError) -> BackgroundRun in
            if lane.withLock({ $0.closed }) { throw closedError() }
            guard current == nil else {
                throw SpoolError(.inUse, "the background work of the spool \(path) runs already: run() runs once at a time per store (cancel the running one first)")
            }
            let running = BackgroundRun(worker: checkpointer.startWorker(), committer: isBuffered ? BackgroundCommitter() : nil)
            lane.withLock { $0.committer = running.committer }
            current = running
            return running
        }
    }

    /// Tells `running`'s threads to stop (the committer after one more round); from now on
    /// commits checkpoint inline again. Returns at once.
    func stopBackground(_ running: BackgroundRun) {
        lane.withLock { lane in
            if lane.committer === running.committer { lane.committer = nil }
        }
        checkpointer.stopWorker(running.worker)
        running.committer?.stop()
    }

    /// Whether ``run()`` runs now.
    var isRunning: Bool { background.withLock { $0 != nil } }

    /// Says once that buffered entries waited longer than the delay because nothing runs the
    /// store's timer.
    func reportBufferedWithoutRun(waited: Int64, now: Int64) {
        guard !reportedBufferedWithoutRun.exchange(true, ordering: .relaxed) else { return }
        let delay = Duration.nanoseconds(bufferedDelayNanoseconds)
        reporter(LogEntry(
            timestamp: now, level: .warning, topic: "spool.store.buffered_without_run",
            message: "buffered mode without run() has no timer: entries waited \(waited / 1_000_000) ms for a commit (maxDelay \(delay)); they are committed only at the high-water mark, by flush() or close(), or by the first append after maxDelay. Run the store (try await store.run(), or SpoolStoreService in a ServiceGroup) to commit within maxDelay; said once",
            context: ["path": .string(path), "waited_ms": .int(waited / 1_000_000), "max_delay_ms": .int(bufferedDelayNanoseconds / 1_000_000)]))
    }
}

/// One run of the store's background work: the checkpointer's worker, and buffered mode's committer.
final class BackgroundRun: Sendable {
    let worker: Checkpointer.Worker
    let committer: BackgroundCommitter?

    init(worker: Checkpointer.Worker, committer: BackgroundCommitter?) {
        self.worker = worker
        self.committer = committer
    }
}
