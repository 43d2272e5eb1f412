import CSQLite
import Foundation
import Synchronization

/// The spool: a SQLite write-ahead table on local disk that every log entry is committed to
/// before anything else happens to it.
///
/// ```swift
/// let spool = try SpoolStore(path: "/var/lib/myapp/logs.spool")
/// try spool.append(LogEntry(timestamp: now, level: .info, topic: "app", message: "started"))
/// ```
///
/// `append` is synchronous and returns after the commit (in ``Durability/committed`` and
/// ``Durability/fsync`` modes). Concurrent appenders share commits: whoever holds the writer
/// commits everything waiting at that moment (group commit), so throughput grows with callers.
///
/// Entries leave the spool only when every registered sink has acknowledged them
/// (their acknowledgements), or as a counted, reported drop
/// at the size bound.
///
/// Opening a store starts no thread. Its background work (checkpoints off the append path, and
/// in buffered mode the committer and its timer) runs while ``run()`` runs: in a task of your
/// own, or, with SpoolForwarding, as a `SpoolStoreService` in a `ServiceGroup`. Without it the
/// store is as correct and keeps every promise but buffered mode's timer: the appender whose
/// commit made the WAL long enough checkpoints it (see ``run()``).
public final class SpoolStore: Sendable {
    /// The spool file's path.
    public let path: String
    /// The configuration the spool was opened with.
    package let configuration: Configuration
    /// Set when a damaged file was found at open and moved aside to this path.
    package let recoveredFrom: String?
    /// Where the store, and by default every forwarder over it, reports its own problems:
    /// ``Configuration/logger``, or one JSON line on stderr.
    package let reporter: @Sendable (LogEntry) -> Void

    /// The one writing connection. Whoever holds this lock owns it. A plain mutex, not `Mutex`:
    /// see ``FastLock``.
    let writer: FastLock<Writer>
    /// A second connection for reads (claims, stats), so readers never wait for commits.
    let reader: Mutex<Reader>
    /// Entries waiting for a commit, and who waits for them (see GroupCommit.swift).
    let lane = FastLock(Lane())
    /// Drops made by this instance, by reason (``droppedSinceOpen``).
    private let dropped = Mutex<[String: Int]>([:])
    /// Leases this process holds, so claims renew them only when half-expired.
    let leases = Mutex<[String: LeaseRecord]>([:])
    /// Entries up to this id are on disk (synced), as far as claims know: raised by a claim's
    /// sync of the WAL and by an acknowledgement's sync, read without the writer's
    /// lock. It only grows (ids are never reused). A claim of entries below it takes no lock but the
    /// reader's (and the writer's once per half-lease, to renew the lease), so it does not wait
    /// behind a commit or an acknowledgement's sync.
    let durableForClaims = Atomic<Int64>(0)
    /// An acknowledgement's sync that failed after its commit: the store sends nothing more
    /// (SpoolStore+Sinks.swift, `syncFailed`).
    let walSyncFailure = Mutex<SpoolError?>(nil)
    let checkpointer: Checkpointer
    /// The background work while ``run()`` runs (see SpoolStore+Run.swift).
    let background = Mutex<BackgroundRun?>(nil)
    /// Threads of the background work alive now, for tests.
    let backgroundThreads = Atomic<Int>(0)
    /// Buffered mode: whether the store said already that entries waited past the delay for
    /// want of ``run()`` (said once).
    let reportedBufferedWithoutRun = Atomic<Bool>(false)
    /// Counts the file as open in this process (see `OpenSpools`), so it is never set aside
    /// or repaired under this store.
    private let openFile: OpenSpools.Registration

    var clock: any WallClock { configuration.clock }
    /// Checkpoints run so far (on the background thread or inline).
    var checkpointRuns: Int { checkpointer.runs.load(ordering: .relaxed) }
    /// Checkpoints asked for.
    var checkpointRequests: Int { checkpointer.requests.load(ordering: .relaxed) }
    /// Tries to let the WAL start over, and those a reader or another writer stopped short.
    var checkpointRestarts: (attempts: Int, busy: Int) {
        (checkpointer.restartAttempts.load(ordering: .relaxed), checkpointer.restartsBusy.load(ordering: .relaxed))
    }
    /// Waits (bounded) until a checkpoint has run.
    func waitForCheckpoint(timeout: Duration) -> Bool {
        checkpointer.ran.wait(timeout: .now() + .nanoseconds(Int(timeout.totalNanoseconds))) == .success
    }
    var now: Int64 { configuration.clock.now.nanoseconds }
    /// Asks for a checkpoint now, whatever the WAL's size: the background thread's, or, without
    /// ``run()``, one on this thread.
    func requestCheckpoint() {
        checkpointer.request()
        checkpointIfDue()
    }

    /// Without ``run()``: the checkpoint the last commit asked for, on this thread. Never called
    /// with the writer held (its second step takes it).
    func checkpointIfDue() {
        checkpointer.checkpointIfDue { body in writer.withLock { _ in body() } }
    }

    /// Opens the spool at `path`, creating it (mode 0600) if it does not exist.
    ///
    /// A damaged spool (recognised by its application id or spool id) is moved aside to
    /// `<path>.corrupt-<UTC time>` and a fresh spool is created, reported on
    /// ``Configuration/logger`` (or stderr) and as an entry in the new spool (topic `spool.store.recovered`),
    /// unless ``Configuration/recoverCorruptFile`` is false, or another process has it open or
    /// a forwarder holds a live lease on it (then it throws, naming the holder). Any other file
    /// (not SQLite, another application's database) is refused and left exactly as it was.
    ///
    /// - Throws: ``SpoolError``: `.io` for an unusable path, `.notASpool` for a file that is not
    ///   recognisably a spool, `.newerSchema` for a spool from a newer Spool (unchanged),
    ///   `.sqliteTooOld`, `.corrupt` when recovery is off, `.inUse` or `.leaseHeld` when a
    ///   damaged spool is in use elsewhere, `.configuration` for a size bound below
    ///   256 KiB.
    public init(path: String, configuration: Configuration = Configuration()) throws(SpoolError) {
        if let bound = configuration.maximumBytes, bound < Configuration.minimumMaximumBytes {
            throw SpoolError(.configuration, "a spool's size bound must be at least \(Configuration.minimumMaximumBytes >> 10) KiB (got \(bound) bytes): an empty spool's tables take 56 KiB, so a bound near that would drop every entry")
        }
        self.path = path
        self.configuration = configuration
        reporter = LibraryReports.reporter(for: configuration)
        let openedAt = configuration.clock.now.nanoseconds
        let (connection, recovery) = try SpoolFile.openWriter(path: path, configuration: configuration, now: openedAt)
        recoveredFrom = recovery?.movedTo
        openFile = OpenSpools.Registration(path)
        let checkpointPages = configuration.effectiveCheckpointPages(fileSystemBytes: Writer.fileSystemBytes(path))
        checkpointer = Checkpointer(path: path, threshold: checkpointPages, durability: configuration.durability, report: reporter, clock: configuration.clock)
        checkpointer.attach(to: connection)
        writer = FastLock(try Writer(connection: connection, configuration: configuration, checkpointPages: checkpointPages))
        let readConnection = try Connection(path: path, create: false)
        SpoolFile.applyBusyTimeout(readConnection, configuration.busyTimeout)
        try SpoolFile.applyCacheSize(readConnection)
        reader = Mutex(try Reader(connection: readConnection))

        if let recovery {
            let entry = LogEntry(
                timestamp: openedAt, level: .error, topic: "spool.store.recovered",
                message: "the spool file was damaged: it was moved aside to \(recovery.movedTo) and a fresh spool was created; `spool check --repair --spool \(recovery.movedTo)` salvages its readable entries, which `spool forward` or `spool export` can then take from it",
                context: ["path": .string(path), "moved_to": .string(recovery.movedTo), "reason": .string(recovery.reason)])
            reporter(entry)
            try append(entry)
        }
    }

    /// No background work runs now: ``run()`` holds the store while it does.
    deinit {
        do throws(SpoolError) {
            try flush()
        } catch {
            // Buffered entries that cannot be committed now are lost with this object: said, not silent.
            let waiting = uncommittedCount
            if waiting > 0 {
                reporter(LogEntry(
                    timestamp: now, level: .critical, topic: "spool.store.dropped",
                    message: "\(waiting) buffered entries could not be committed when the spool was released and are lost",
                    context: ["count": .int(Int64(waiting)), "reason": .string("release:\(error.code)"), "error": .string(error.description), "path": .string(path)]))
            }
        }
    }

    /// Commits what is waiting and ends a running ``run()`` (which returns once its threads
    /// have stopped). Later appends throw `.closed`. Calling it twice is harmless; releasing
    /// the store commits what is waiting too.
    /// - Throws: ``SpoolError`` from the commit of what was waiting (the store is not closed then).
    public func close() throws(SpoolError) {
        if let running = background.withLock({ $0 }) { stopBackground(running) }
        // Closed first, then the last commit: an append racing `close()` is refused, never
        // accepted after the last commit and left waiting with nothing to commit it.
        lane.withLock { $0.closed = true }
        do throws(SpoolError) {
            try flush()
        } catch {
            lane.withLock { $0.closed = false }
            throw error
        }
    }

    // MARK: - Appending

    /// Appends one entry. In `committed` and `fsync` modes it returns after the commit.
    /// - Throws: ``SpoolError``: `.spoolFull` at the bound with policy `reject`, `.diskFull`,
    ///   `.closed`; in `committed` and `fsync` modes nothing of the entry is stored then (buffered:
    ///   past its high-water mark, as in the others).
    public func append(_ entry: LogEntry) throws(SpoolError) {
        try submit(rows: CollectionOfOne(PreparedRow(entry, maximumMessageBytes: configuration.maximumMessageBytes)), waitForCommit: !isBuffered)
    }

    /// Appends entries in order, in one transaction (all or none).
    public func append(contentsOf entries: [LogEntry]) throws(SpoolError) {
        guard !entries.isEmpty else { return }
        let limit = configuration.maximumMessageBytes
        try submit(rows: entries.map { PreparedRow($0, maximumMessageBytes: limit) }, waitForCommit: !isBuffered)
    }

    /// Commits every waiting entry now (in buffered mode, what the background committer would
    /// commit within its delay). Returns once they are committed.
    /// - Throws: ``SpoolError`` from the commit; buffered entries stay queued then.
    public func flush() throws(SpoolError) {
        try submit(rows: EmptyCollection(), waitForCommit: true)
    }

    /// Entries this store dropped at the size bound or the disk's since it was opened, by reason
    /// (`overflow:dropOldest`, `disk_full:dropNewest`, …): what a command that appended reports
    /// in its summary. The spool's lifetime total is in ``SpoolStats/droppedEntries``.
    package var droppedSinceOpen: [String: Int] { dropped.withLock { $0 } }

    func reportDrops(_ drops: [Writer.Drop], now: Int64) {
        if !drops.isEmpty {
            dropped.withLock { counts in for drop in drops { counts[drop.reason, default: 0] += drop.count } }
        }
        for drop in drops {
            var context: [String: JSONValue] = ["count": .int(Int64(drop.count)), "reason": .string(drop.reason), "path": .string(path)]
            if let first = drop.firstID, let last = drop.lastID {
                context["first_id"] = .int(first)
                context["last_id"] = .int(last)
            }
            reporter(LogEntry(
                timestamp: now, level: .warning, topic: "spool.store.dropped",
                message: "\(drop.reason.hasPrefix("disk_full") ? "the file system holding the spool is full" : "the spool reached its size bound"): \(drop.count) entries dropped (\(drop.reason))",
                context: context))
        }
    }

    func closedError() -> SpoolError {
        SpoolError(.closed, "the spool \(path) is closed")
    }

    // MARK: - Buffered mode

    /// Entries accepted in buffered mode and not yet committed (including a round under way).
    package var uncommittedCount: Int { lane.withLock { $0.pending.count + $0.inFlight } }
}

package struct LeaseRecord: Sendable {
    var owner: String
    var expires: Int64
}
