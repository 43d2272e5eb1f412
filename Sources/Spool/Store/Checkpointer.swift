import CSQLite
import Foundation
import Synchronization

/// Moves the WAL back into the database off the append path. The writer's connection has
/// `wal_autocheckpoint = 0`; its WAL hook wakes this thread when `threshold` pages were added
/// to the WAL since the last checkpoint, and the thread runs a PASSIVE checkpoint on its own
/// connection, which never blocks writers.
final class Checkpointer: Sendable {
    private let path: String
    private let threshold: Int32
    private let wake = DispatchSemaphore(value: 0)
    private let requested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    private let report: @Sendable (LogEntry) -> Void
    private let clock: any WallClock
    /// The WAL's size in pages after the writer's last commit.
    let walPages = Atomic<Int32>(0)
    /// The WAL's size in pages when the last checkpoint ran (0 once the WAL starts over): the
    /// hook counts new pages from here, not from the WAL's start. Under a steady stream of
    /// appends (or beside a long read) a checkpoint cannot copy the whole WAL, so the WAL does
    /// not start over; a threshold on its whole size then woke the checkpointer after every
    /// commit, two fsyncs each time for a handful of new pages (BENCHMARKS.md, "Earlier:
    /// spinning waiters and the checkpointer").
    let pagesAtLastCheckpoint = Atomic<Int32>(0)
    /// Times the hook (or `request`) woke the thread, for tests.
    let requests = Atomic<Int>(0)
    /// Past this many pages a PASSIVE checkpoint is not enough (see `run`).
    var restartThreshold: Int32 { threshold.multipliedReportingOverflow(by: 16).overflow ? .max : threshold * 16 }
    /// Whether a commit that left `walPages` pages in the WAL wakes the thread: `threshold` new
    /// pages since the last checkpoint ran, or, past the RESTART threshold, every commit. A
    /// RESTART that timed out waiting for a moment between two transactions must be tried again
    /// at once, or the WAL outgrows its bound (85 MiB instead of 64 after 10M appends when it
    /// waited for another threshold's worth of pages).
    func wantsCheckpoint(walPages: Int32, pagesAtLastCheckpoint: Int32) -> Bool {
        walPages - pagesAtLastCheckpoint >= threshold || walPages >= restartThreshold
    }

    /// The checkpoint mode for a WAL of `walPages` pages.
    func mode(walPages: Int32) -> String {
        walPages >= restartThreshold ? "RESTART" : "PASSIVE"
    }

    /// Checkpoints run so far, for tests and stats.
    let runs = Atomic<Int>(0)
    /// Signalled after each checkpoint, so a test can wait for one without sleeping.
    let ran = DispatchSemaphore(value: 0)

    init(path: String, threshold: Int, report: @escaping @Sendable (LogEntry) -> Void, clock: any WallClock) {
        self.path = path
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
            if checkpointer.wantsCheckpoint(walPages: pages, pagesAtLastCheckpoint: since) { checkpointer.request() }
            return SQLITE_OK
        }, context)
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

    /// Stops the thread (if it runs) and waits for it.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if started.load(ordering: .acquiring) {
            wake.signal()
            finished.wait()
        }
    }

    private func run() {
        defer { finished.signal() }
        let connection: Connection
        do {
            connection = try Connection(path: path, create: false)
            sqlite3_busy_timeout(connection.handle, 1000)
            try SpoolFile.applyCacheSize(connection)
        } catch {
            report(LogEntry(timestamp: clock.now.nanoseconds, level: .error, topic: "spool.store.checkpoint_failed",
                            message: "the checkpointer could not open the spool; the WAL will grow until the next open",
                            context: ["error": .string(error.description)]))
            return
        }
        var lastFailureReport = Int64.min / 2
        while true {
            wake.wait()
            if stopped.load(ordering: .acquiring) { return }
            requested.store(false, ordering: .releasing)
            // PASSIVE never blocks the writer; a busy reader only makes it partial. But under a
            // sustained stream of appends it never catches up with the WAL's end, so the WAL
            // (and its index, mapped in memory) grows without bound: 2.6 GiB after 10M appends.
            // Past 16 times the threshold, RESTART: it waits for the current commit, copies
            // everything back while holding writers off (appenders wait on the busy timeout,
            // a few tens of milliseconds for 64 MiB), and lets the next commit start the WAL
            // from the beginning; journal_size_limit then truncates the file.
            do {
                // One row: busy, pages in the WAL, pages copied into the database.
                let checkpoint = try connection.prepare("PRAGMA wal_checkpoint(\(mode(walPages: walPages.load(ordering: .relaxed))))")
                if try checkpoint.step(), !checkpoint.isNull(1) {
                    pagesAtLastCheckpoint.store(Int32(clamping: max(0, checkpoint.int64(1))), ordering: .relaxed)
                }
            } catch {
                // Busy is the normal outcome of a RESTART that waited out its timeout; anything
                // else (a full disk, an I/O error) is said, at most once a minute.
                let now = clock.now.nanoseconds
                if error.sqliteCode.map({ $0 & 0xFF != SQLITE_BUSY }) ?? true, now - lastFailureReport >= 60_000_000_000 {
                    lastFailureReport = now
                    report(LogEntry(timestamp: now, level: .error, topic: "spool.store.checkpoint_failed",
                                    message: "a checkpoint failed; the WAL keeps growing until one succeeds",
                                    context: ["error": .string(error.description), "path": .string(path)]))
                }
            }
            // Pages copied into the database, the WAL not yet started over by the next commit.
            CrashPoint.reached("store.checkpoint")
            runs.add(1, ordering: .relaxed)
            ran.signal()
        }
    }
}
