import CSQLite
import Foundation
import Synchronization

/// Moves the WAL back into the database off the append path, and never holds writers back for
/// more than a few milliseconds.
///
/// The writer's connection has `wal_autocheckpoint = 0`; its WAL hook wakes this thread when
/// `threshold` pages were added to the WAL since the last checkpoint, and the thread runs a
/// PASSIVE checkpoint on its own connection, which never blocks anyone. PASSIVE cannot start the
/// WAL over, though: under a steady stream of appends it never reaches the WAL's end (measured:
/// 2.6 GiB of WAL after 10M appends). So once the WAL passes `restartThreshold`, the thread
/// follows the PASSIVE with a RESTART that is short by construction:
///
/// - the PASSIVE just before it copied nearly everything, so what RESTART copies while it holds
///   SQLite's write lock is a few commits' worth;
/// - it runs while this process's writer is held (``exclusive``), so it never queues behind our
///   own group commit, and it waits at most ``restartBusyWait`` for anyone else (another
///   process's writer, or a reader on an older snapshot);
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
    private let wake = DispatchSemaphore(value: 0)
    private let requested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    private let report: @Sendable (LogEntry) -> Void
    private let clock: any WallClock
    /// Runs its argument while this process's writer is held, so a RESTART never waits for our
    /// own commits (set by the store once its writer exists).
    private let exclusive = Mutex<(@Sendable (() -> Void) -> Void)?>(nil)
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
    /// Times the hook (or `request`) woke the thread, for tests.
    let requests = Atomic<Int>(0)
    /// RESTART checkpoints tried, and how many of them found a reader or writer in the way.
    let restartAttempts = Atomic<Int>(0)
    let restartsBusy = Atomic<Int>(0)
    /// Past this many pages a PASSIVE checkpoint is followed by a short RESTART (see `run`).
    var restartThreshold: Int32 { threshold.multipliedReportingOverflow(by: 16).overflow ? .max : threshold * 16 }
    /// A WAL this large (twice the RESTART threshold: 128 MiB by default) is reported as growing.
    var warningPages: Int32 { restartThreshold.multipliedReportingOverflow(by: 2).overflow ? .max : restartThreshold * 2 }
    /// How long a RESTART may wait for another connection; writers of this process wait as long.
    static let restartBusyWait: Duration = .milliseconds(2)
    static let initialBackoff: Duration = .milliseconds(50)
    static let maximumBackoff: Duration = .seconds(5)

    /// Whether a commit that left `walPages` pages in the WAL wakes the thread: `threshold` new
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

    /// Sets how the thread holds this process's writer around a RESTART.
    func setExclusive(_ body: @escaping @Sendable (() -> Void) -> Void) {
        exclusive.withLock { $0 = body }
    }

    /// Asks for a checkpoint soon; starts the thread on first use.
    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        requests.add(1, ordering: .relaxed)
        if !started.exchange(true, ordering: .acquiringAndReleasing) {
            Thread.detachNewThread { [self] in run() }
        }
        wake.signal()
    }

    /// Stops the thread (if it runs) and waits for it, unless called on the thread itself.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if started.load(ordering: .acquiring) {
            wake.signal()
            // The store's last reference can go inside `exclusive`, on this thread: its deinit
            // then stops the checkpointer from the checkpointer's own thread, which must not
            // wait for itself (it did, and hung a test run); the loop ends after this round.
            if runningOn.load(ordering: .acquiring) == Self.currentThread { return }
            finished.wait()
        }
    }

    /// The checkpointer thread, so ``stop()`` can tell it is called there.
    private let runningOn = Atomic<Int>(0)
    private static var currentThread: Int { ObjectIdentifier(Thread.current).hashValue }

    private func run() {
        defer { finished.signal() }
        runningOn.store(Self.currentThread, ordering: .releasing)
        let connection: Connection
        do {
            connection = try Connection(path: path, create: false)
            // PASSIVE never calls the busy handler; RESTART waits this long at most.
            SpoolFile.applyBusyTimeout(connection, Self.restartBusyWait)
            try SpoolFile.applyCacheSize(connection)
            try SpoolFile.applyFullSync(connection, durability)
        } catch {
            report(LogEntry(timestamp: clock.now.nanoseconds, level: .error, topic: "spool.store.checkpoint_failed",
                            message: "the checkpointer could not open the spool; the WAL will grow until the next open",
                            context: ["error": .string(error.description)]))
            return
        }
        var lastFailureReport = Int64.min / 2
        var backoff = Self.initialBackoff
        var warnedAtPages: Int32 = 0
        while true {
            wake.wait()
            if stopped.load(ordering: .acquiring) { return }
            requested.store(false, ordering: .releasing)
            do throws(SpoolError) {
                // Copy what can be copied without waiting for anyone.
                var wal = try checkpoint(connection, "PASSIVE")
                if wal.pages >= restartThreshold && restartDue(now: clock.now.nanoseconds) {
                    restartAttempts.add(1, ordering: .relaxed)
                    var restart: Result<(busy: Bool, pages: Int32), SpoolError> = .failure(SpoolError(.io, "not run"))
                    let body = { restart = Result { () throws(SpoolError) in try self.checkpoint(connection, "RESTART") } }
                    if let exclusive = exclusive.withLock({ $0 }) { exclusive(body) } else { body() }
                    switch restart {
                    case .success(let result) where !result.busy:
                        wal = result
                        backoff = Self.initialBackoff
                        restartNotBefore.store(0, ordering: .relaxed)
                    case .success:
                        throw SpoolError(.io, "busy", sqliteCode: SQLITE_BUSY)
                    case .failure(let error):
                        throw error
                    }
                }
                if wal.pages < warningPages / 2 { warnedAtPages = 0 }
            } catch {
                let now = clock.now.nanoseconds
                if error.isBusy {
                    // A reader on an older snapshot (or another process's writer) was in the
                    // way: try again later, not at the next commit.
                    restartsBusy.add(1, ordering: .relaxed)
                    restartNotBefore.store(now &+ backoff.totalNanoseconds, ordering: .relaxed)
                    backoff = min(backoff * 2, Self.maximumBackoff)
                } else if now - lastFailureReport >= 60_000_000_000 {
                    // Anything else (a full disk, an I/O error) is said, at most once a minute.
                    lastFailureReport = now
                    report(LogEntry(timestamp: now, level: .error, topic: "spool.store.checkpoint_failed",
                                    message: "a checkpoint failed; the WAL keeps growing until one succeeds",
                                    context: ["error": .string(error.description), "path": .string(path)]))
                }
            }
            let pages = walPages.load(ordering: .relaxed)
            if pages >= warningPages && pages >= warnedAtPages.multipliedReportingOverflow(by: 2).partialValue {
                warnedAtPages = pages
                reportGrowth(pages: pages)
            }
            // Pages copied into the database, the WAL not yet started over by the next commit.
            CrashPoint.reached("store.checkpoint")
            runs.add(1, ordering: .relaxed)
            ran.signal()
        }
    }

    /// Runs one checkpoint; returns whether it was stopped short by a busy lock and the WAL's
    /// size in pages, which the hook counts new pages from.
    private func checkpoint(_ connection: Connection, _ mode: String) throws(SpoolError) -> (busy: Bool, pages: Int32) {
        // One row: busy, pages in the WAL, pages copied into the database.
        let statement = try connection.prepare("PRAGMA wal_checkpoint(\(mode))")
        guard try statement.step(), !statement.isNull(1) else { return (false, 0) }
        pagesAtLastCheckpoint.store(Int32(clamping: max(0, statement.int64(1))), ordering: .relaxed)
        return (statement.int64(0) != 0, Int32(clamping: max(0, statement.int64(1))))
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
