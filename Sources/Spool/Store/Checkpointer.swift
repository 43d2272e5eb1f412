import CSQLite
import Foundation
import Synchronization

/// Moves the WAL back into the database, and never holds writers back for more than a few
/// milliseconds.
///
/// The writer's connection has `wal_autocheckpoint = 0`; its WAL hook asks for a checkpoint
/// (``request()``) when `threshold` pages were added to the WAL since the last checkpoint. Who
/// runs it depends on whether the store's background work runs (``SpoolStore/run()``):
///
/// - while it runs, a thread of its own (``serve(_:exclusive:)``), off the append path;
/// - otherwise the appender (or acknowledger) whose commit asked for it, after it released the
///   writer (``checkpointIfDue(exclusive:)``), so nothing starts a thread behind the caller's
///   back and the WAL stays bounded all the same. That caller's call takes as long as the
///   checkpoint (about 4 MiB copied, and synced in every durability mode); other writers go on.
///
/// Either way, a round is a PASSIVE checkpoint first, which never waits for anyone. PASSIVE
/// cannot start the WAL over, though, when commits keep arriving while it copies: under a steady
/// stream of appends it never reaches the WAL's end (measured: 2.6 GiB of WAL after 10M appends).
/// So once the WAL passes `restartThreshold`, the round follows the PASSIVE with a second step
/// that is short by construction:
///
/// - the PASSIVE just before it copied nearly everything, so what the second step copies while
///   this process's writer is held (``exclusive``) is a few commits' worth;
/// - on the background thread the step is a RESTART, which also waits at most
///   ``restartBusyWait`` for anyone else (another process's writer, or a reader on an older
///   snapshot); inline it is a second PASSIVE, which waits for no one: with our own writers held
///   back it reaches the WAL's end unless a reader still needs older frames, and then the next
///   commit starts the WAL over as after a RESTART;
/// - if it still finds someone in the way (typically a reader holding a read transaction: a
///   `sqlite3` shell inside `BEGIN`, a slow `spool export`), it backs off on the injected clock,
///   from ``initialBackoff`` doubling to ``maximumBackoff``, instead of trying again at every
///   commit. Such a reader pins the WAL (SQLite's rule: frames a reader may still need are not
///   overwritten), so the WAL grows while it reads; past ``warningPages`` this is reported once
///   (and again at each doubling) as `spool.store.wal_growing`, naming the cause.
package final class Checkpointer: Sendable {
    private let path: String
    /// fsync mode: its checkpoints flush the drive's cache on Apple platforms too.
    private let durability: SpoolStore.Durability
    private let threshold: Int32
    /// Set by a request, cleared by whoever runs the round it asked for: requests that come
    /// while one waits fold into it.
    private let requested = Atomic<Bool>(false)
    private let report: @Sendable (LogEntry) -> Void
    private let clock: any WallClock
    /// While the store's background work runs: the thread's wake-up (see ``serve(_:exclusive:)``).
    private let worker = Mutex<Worker?>(nil)
    /// The checkpointing connection (opened on first use) and what rounds carry over; whoever
    /// holds it runs a round, so the thread and an inline caller never run two at once.
    private let rounds = Mutex<Rounds>(Rounds())

    /// What one round leaves to the next.
    private struct Rounds {
        var connection: Connection?
        var backoff = Checkpointer.initialBackoff
        var warnedAtPages: Int32 = 0
        var lastFailureReport = Int64.min / 2
        /// The last try to start the WAL over found a reader (or another process's writer) in
        /// the way, and none has succeeded since: only then is a large WAL reported. Without
        /// one, a large WAL is a burst of appends the checkpoint has not caught up with yet (a
        /// million-line `spool ingest` briefly reached 178 MiB), which the next try ends.
        var blocked = false
    }

    /// The background thread's wake-up and stop, for one run of the store's background work.
    final class Worker: Sendable {
        fileprivate let wake = DispatchSemaphore(value: 0)
        fileprivate let stopped = Atomic<Bool>(false)

        /// Ends the thread's loop after its current round.
        func stop() {
            stopped.store(true, ordering: .releasing)
            wake.signal()
        }
    }

    /// The WAL's size in pages after the writer's last commit.
    let walPages = Atomic<Int32>(0)
    /// The WAL's size in pages when the last checkpoint ran (0 once the WAL starts over): the
    /// hook counts new pages from here, not from the WAL's start. Under a steady stream of
    /// appends (or beside a long read) a checkpoint cannot copy the whole WAL, so the WAL does
    /// not start over; a threshold on its whole size then woke the checkpointer after every
    /// commit, two fsyncs each time for a handful of new pages (BENCHMARKS.md, "Earlier:
    /// spinning waiters and the checkpointer").
    let pagesAtLastCheckpoint = Atomic<Int32>(0)
    /// Unix nanoseconds before which no RESTART is tried (after one found someone in the way).
    let restartNotBefore = Atomic<Int64>(0)
    /// Checkpoints asked for (by the hook or `request`), requests that came while one waited
    /// not counted: for tests.
    let requests = Atomic<Int>(0)
    /// Second steps tried (to let the WAL start over), and how many of them found a reader or a
    /// writer in the way.
    let restartAttempts = Atomic<Int>(0)
    let restartsBusy = Atomic<Int>(0)
    /// Past this many pages a PASSIVE checkpoint is followed by the short second step (see `round`).
    var restartThreshold: Int32 { threshold.multipliedReportingOverflow(by: 16).overflow ? .max : threshold * 16 }
    /// A WAL this large (twice the RESTART threshold: 128 MiB by default) is reported as growing.
    var warningPages: Int32 { restartThreshold.multipliedReportingOverflow(by: 2).overflow ? .max : restartThreshold * 2 }
    /// How long a RESTART may wait for another connection; writers of this process wait as long.
    static let restartBusyWait: Duration = .milliseconds(2)
    static let initialBackoff: Duration = .milliseconds(50)
    static let maximumBackoff: Duration = .seconds(5)

    /// Whether a commit that left `walPages` pages in the WAL asks for a checkpoint: `threshold` new
    /// pages since the last checkpoint ran, or, past the RESTART threshold, every commit once a
    /// RESTART is due again (`restartDue` is asked only then: it reads the clock).
    func wantsCheckpoint(walPages: Int32, pagesAtLastCheckpoint: Int32, restartDue: () -> Bool = { true }) -> Bool {
        walPages - pagesAtLastCheckpoint >= threshold || (walPages >= restartThreshold && restartDue())
    }

    /// Whether a RESTART may be tried at `now` (Unix nanoseconds).
    func restartDue(now: Int64) -> Bool { now >= restartNotBefore.load(ordering: .relaxed) }

    /// Checkpoints run so far, for tests and stats.
    let runs = Atomic<Int>(0)
    /// Signalled after each checkpoint, so a test can wait for one without sleeping.
    let ran = DispatchSemaphore(value: 0)

    init(path: String, threshold: Int, durability: SpoolStore.Durability = .committed, report: @escaping @Sendable (LogEntry) -> Void, clock: any WallClock) {
        self.path = path
        self.durability = durability
        self.threshold = Int32(max(1, min(threshold, Int(Int32.max))))
        self.report = report
        self.clock = clock
    }

    /// Installs the WAL hook on the writer's connection. The hook holds an unretained pointer:
    /// the store keeps this object alive as long as the connection.
    func attach(to connection: Connection) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_wal_hook(connection.handle, { context, _, _, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
            checkpointer.walPages.store(pages, ordering: .relaxed)
            var since = checkpointer.pagesAtLastCheckpoint.load(ordering: .relaxed)
            if pages < since {
                // The WAL started over after a complete checkpoint.
                since = 0
                checkpointer.pagesAtLastCheckpoint.store(0, ordering: .relaxed)
            }
            if checkpointer.wantsCheckpoint(walPages: pages, pagesAtLastCheckpoint: since,
                                            restartDue: { checkpointer.restartDue(now: checkpointer.clock.now.nanoseconds) }) {
                checkpointer.request()
            }
            return SQLITE_OK
        }, context)
    }

    /// Asks for a checkpoint: wakes the background thread while there is one; otherwise the
    /// next ``checkpointIfDue(exclusive:)`` runs it.
    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        requests.add(1, ordering: .relaxed)
        worker.withLock { $0 }?.wake.signal()
    }

    // MARK: - Inline, without the background work

    /// Runs the round a commit asked for on the caller's thread, unless the background thread
    /// runs or another round is under way. Called by the store after a commit, with its writer
    /// released; `exclusive` holds the writer around the round's short second step. One atomic
    /// load when nothing is due.
    func checkpointIfDue(exclusive: @Sendable (() -> Void) -> Void) {
        guard requested.load(ordering: .relaxed) else { return }
        guard worker.withLock({ $0 == nil }) else { return }
        // The request is taken only with the lock: one that finds a round under way stays for
        // the next commit, instead of being dropped until another threshold of pages.
        _ = rounds.withLockIfAvailable { rounds in
            guard requested.exchange(false, ordering: .acquiringAndReleasing) else { return }
            round(&rounds, inline: true, exclusive: exclusive)
        }
    }

    // MARK: - The background thread

    /// Makes the worker of one run of the background work; requests wake it from now on.
    func startWorker() -> Worker {
        let started = Worker()
        worker.withLock { $0 = started }
        // Asked for before the thread existed: the round is its first.
        if requested.load(ordering: .acquiring) { started.wake.signal() }
        return started
    }

    /// Stops `stopping` and hands requests back to the inline path.
    func stopWorker(_ stopping: Worker) {
        worker.withLock { if $0 === stopping { $0 = nil } }
        stopping.stop()
    }

    /// The background thread's loop: a round per wake-up, until `worker` is stopped. Runs on a
    /// thread of its own (blocking: SQLite's I/O, the writer's lock).
    func serve(_ worker: Worker, exclusive: @Sendable (() -> Void) -> Void) {
        while true {
            worker.wake.wait()
            if worker.stopped.load(ordering: .acquiring) { return }
            requested.store(false, ordering: .releasing)
            rounds.withLock { rounds in round(&rounds, inline: false, exclusive: exclusive) }
        }
    }

    // MARK: - A round

    /// One checkpoint: PASSIVE, then, past the RESTART threshold and when due, the short second
    /// step (a RESTART on the thread, a PASSIVE inline), both under `exclusive`.
    private func round(_ state: inout Rounds, inline: Bool, exclusive: @Sendable (() -> Void) -> Void) {
        guard let connection = state.connection ?? openConnection(&state) else { return }
        do throws(SpoolError) {
            // Copy what can be copied without waiting for anyone.
            var wal = try checkpoint(connection, "PASSIVE")
            if wal.pages >= restartThreshold && restartDue(now: clock.now.nanoseconds) {
                restartAttempts.add(1, ordering: .relaxed)
                if wal.copied < wal.pages {
                    var second: Result<Wal, SpoolError> = .failure(SpoolError(.io, "not run"))
                    exclusive {
                        second = Result { () throws(SpoolError) in try self.checkpoint(connection, inline ? "PASSIVE" : "RESTART") }
                    }
                    wal = try second.get()
                }
                // A RESTART says busy; a PASSIVE stops short of the WAL's end without a word.
                guard !wal.busy && wal.copied >= wal.pages else { throw SpoolError(.io, "busy", sqliteCode: SQLITE_BUSY) }
                state.backoff = Self.initialBackoff
                state.blocked = false
                restartNotBefore.store(0, ordering: .relaxed)
            }
            if wal.pages < warningPages / 2 { state.warnedAtPages = 0 }
        } catch {
            let now = clock.now.nanoseconds
            if error.isBusy {
                // A reader on an older snapshot (or another process's writer) was in the
                // way: try again later, not at the next commit.
                restartsBusy.add(1, ordering: .relaxed)
                state.blocked = true
                restartNotBefore.store(now &+ state.backoff.totalNanoseconds, ordering: .relaxed)
                state.backoff = min(state.backoff * 2, Self.maximumBackoff)
            } else if now - state.lastFailureReport >= 60_000_000_000 {
                // Anything else (a full disk, an I/O error) is said, at most once a minute.
                state.lastFailureReport = now
                report(LogEntry(timestamp: now, level: .error, topic: "spool.store.checkpoint_failed",
                                message: "a checkpoint failed; the WAL keeps growing until one succeeds",
                                context: ["error": .string(error.description), "path": .string(path)]))
            }
        }
        let pages = walPages.load(ordering: .relaxed)
        if state.blocked && pages >= warningPages && pages >= state.warnedAtPages.multipliedReportingOverflow(by: 2).partialValue {
            state.warnedAtPages = pages
            reportGrowth(pages: pages)
        }
        // Pages copied into the database, the WAL not yet started over by the next commit.
        CrashPoint.reached("store.checkpoint")
        runs.add(1, ordering: .relaxed)
        ran.signal()
    }

    /// The checkpointing connection, opened on first use; nil (reported) when it cannot be.
    private func openConnection(_ state: inout Rounds) -> Connection? {
        do throws(SpoolError) {
            let connection = try Connection(path: path, create: false)
            // PASSIVE never calls the busy handler; RESTART waits this long at most.
            SpoolFile.applyBusyTimeout(connection, Self.restartBusyWait)
            try SpoolFile.applyCacheSize(connection)
            try SpoolFile.applyFullSync(connection, durability)
            state.connection = connection
            return connection
        } catch {
            let now = clock.now.nanoseconds
            if now - state.lastFailureReport >= 60_000_000_000 {
                state.lastFailureReport = now
                report(LogEntry(timestamp: now, level: .error, topic: "spool.store.checkpoint_failed",
                                message: "the checkpointer could not open the spool; the WAL keeps growing until it can",
                                context: ["error": .string(error.description), "path": .string(path)]))
            }
            return nil
        }
    }

    /// What a checkpoint found: whether a lock stopped it short, the WAL's size in pages (which
    /// the hook counts new pages from), and the pages copied into the database.
    private struct Wal {
        var busy: Bool
        var pages: Int32
        var copied: Int32
    }

    /// Runs one checkpoint.
    private func checkpoint(_ connection: Connection, _ mode: String) throws(SpoolError) -> Wal {
        // One row: busy, pages in the WAL, pages copied into the database.
        let statement = try connection.prepare("PRAGMA wal_checkpoint(\(mode))")
        guard try statement.step(), !statement.isNull(1) else { return Wal(busy: false, pages: 0, copied: 0) }
        let pages = Int32(clamping: max(0, statement.int64(1)))
        pagesAtLastCheckpoint.store(pages, ordering: .relaxed)
        return Wal(busy: statement.int64(0) != 0, pages: pages, copied: Int32(clamping: max(0, statement.int64(2))))
    }

    /// Says that the WAL keeps growing and why.
    private func reportGrowth(pages: Int32) {
        let bytes = Int64(pages) * 4120
        report(LogEntry(
            timestamp: clock.now.nanoseconds, level: .warning, topic: "spool.store.wal_growing",
            message: "the WAL of \(path) has grown to \(bytes >> 20) MiB and cannot start over: another connection holds a read transaction on an older snapshot (a sqlite3 shell inside BEGIN, a slow `spool export` or `tail`, another program reading the spool). Appends go on; the WAL is copied back and shrinks once that reader finishes",
            context: ["path": .string(path), "wal_bytes": .int(bytes), "restart_threshold_bytes": .int(Int64(restartThreshold) * 4120)]))
    }
}
