import Logging

extension SpoolStore {
    /// When `append` returns, and what a crash can cost.
    public enum Durability: Sendable, Hashable, CustomStringConvertible {
        /// The default. WAL with `synchronous=NORMAL`: `append` returns after the commit, and the
        /// entry survives the process being killed at any moment after that. A power loss or an
        /// OS crash can lose the last transactions before the OS wrote them out.
        case committed
        /// `synchronous=FULL`: every commit is fsynced; survives power loss. Concurrent appenders
        /// share commits (group commit), so throughput grows with the number of callers.
        /// On Apple platforms the fsync is `F_FULLFSYNC` (SQLite's `fullfsync`), which also
        /// flushes the drive's cache.
        case fsync
        /// `append` returns at once; while ``SpoolStore/run()`` runs, a background committer
        /// commits within `maxDelay`, and a crash loses at most that window. Without `run()`
        /// there is no timer: what waits is committed at the high-water mark (16,384 entries waiting), by
        /// `flush()`, `close()` or the store's release, and by the first append that finds the
        /// oldest waiting entry older than `maxDelay` (see ``SpoolStore/run()``).
        case buffered(maxDelay: Duration)

        public var description: String {
            switch self {
            case .committed: "committed"
            case .fsync: "fsync"
            case .buffered(let delay): "buffered(\(delay))"
            }
        }

        /// Parses `committed`, `fsync` or `buffered` (with a default delay of 200 ms).
        package init?(parsing text: String, bufferedDelay: Duration = .milliseconds(200)) {
            switch text.lowercased() {
            case "committed": self = .committed
            case "fsync": self = .fsync
            case "buffered": self = .buffered(maxDelay: bufferedDelay)
            default: return nil
            }
        }
    }

    /// What happens when the spool reaches ``Configuration/maximumBytes``. Every drop is recorded
    /// in the `drops` table and reported; none is silent.
    public enum OverflowPolicy: String, Sendable, Hashable, CaseIterable {
        /// Delete the oldest stored entries to make room (the default): recent logs matter most
        /// during an outage.
        case dropOldest
        /// Keep what is stored and drop the incoming entries.
        case dropNewest
        /// Keep everything and make `append` throw ``SpoolError/Code/spoolFull``.
        case reject
    }

    /// How a spool is opened and written. Every field has a documented default.
    public struct Configuration: Sendable {
        /// When `append` returns. Default ``Durability/committed``.
        public var durability: Durability = .committed
        /// Bound on the database's used pages, in bytes (the WAL, bounded by checkpoints, is not
        /// counted). Default 1 GiB; `nil` for no bound. The file system's free space, less a
        /// reserve for the WAL, bounds it too: the overflow policy applies there as well.
        public var maximumBytes: Int64? = 1 << 30
        /// What to do at the bound. Default ``OverflowPolicy/dropOldest``.
        public var overflowPolicy: OverflowPolicy = .dropOldest
        /// Messages longer than this many UTF-8 bytes are cut with a visible marker, as are
        /// contexts whose JSON is longer. Default 256 KiB.
        public var maximumMessageBytes: Int = 256 * 1024
        /// How long a write waits for another process's lock before failing. Default 5 s.
        package var busyTimeout: Duration = .seconds(5)
        /// Run `PRAGMA quick_check` at open. Default true.
        package var verifyOnOpen: Bool = true
        /// Move a damaged file aside (`<name>.corrupt-<UTC time>`) and start a fresh spool,
        /// reporting it loudly. When false, opening a damaged file throws. Default true.
        public var recoverCorruptFile: Bool = true
        /// Apply pending migrations at open. When false, an old spool fails to open. Default true.
        package var migrate: Bool = true
        /// New WAL pages since the last checkpoint that ask for one: on the background thread
        /// while ``SpoolStore/run()`` runs, else run by the committing caller. Default 1000
        /// (about 4 MiB). The store keeps room on the file system for 17 times this
        /// much WAL (see "The disk is a bound too" in docs/architecture.md), so on a small file
        /// system, or with a small ``maximumBytes``, it uses less: at most an eighth of the file
        /// system and a quarter of the bound (``effectiveCheckpointPages(fileSystemBytes:)``).
        package var checkpointPages: Int = 1000
        /// In ``Durability/buffered(maxDelay:)`` mode, the bound on entries waiting in memory
        /// (including a commit under way): a quarter of it wakes the background committer at once
        /// (rather than at `maxDelay`; while ``SpoolStore/run()`` runs), and past it `append`
        /// waits for a commit (without `run()`, commits), as in
        /// `committed` mode. If that commit fails, `append` throws its error and nothing of its
        /// entries is stored: they leave the queue with the error (the entries of appends that
        /// had already returned stay queued for the next round). So the queue stays bounded
        /// while every commit fails. Default 16384.
        package var bufferedHighWater: Int = 16384
        /// The clock for timestamps, leases, checkpoint backoff and buffered mode's delay. Default
        /// the system clock.
        package var clock: any WallClock = SystemClock()
        /// The swift-log `Logger` Spool reports its own problems with this spool to: a damaged
        /// file set aside, entries dropped at the bound, a background commit or checkpoint that
        /// failed, and what every forwarder over the spool has to say (a sink failing,
        /// recovering, dead-lettering, misconfigured). Default nil: one JSON line on stderr per
        /// report, what the `spool` command prints.
        ///
        /// Each report is one call at its level, with its message, its topic (such as
        /// `spool.store.dropped`) under the metadata key `topic` and its context as metadata.
        ///
        /// ```swift
        /// var configuration = SpoolStore.Configuration()
        /// configuration.logger = Logger(label: "myapp.spool")
        /// let store = try SpoolStore(path: "myapp.spool", configuration: configuration)
        /// ```
        ///
        /// The logger may write to this same spool (a ``SpoolLogHandler`` over a
        /// ``SpoolStoreHandler``): a report caused while another is being logged on the same
        /// thread (appending the report to a full spool drops an entry, which is reported)
        /// goes to stderr instead, so reports never recurse. Reports are made outside the
        /// store's locks, so such a logger cannot deadlock the store either.
        public var logger: Logger?
        /// Where reports go when ``logger`` is nil, and those a report causes while it is being
        /// logged: one JSON line on stderr by default. For the `spool` command and tests.
        package var report: @Sendable (LogEntry) -> Void = StandardError.writeJSONLine
        /// Test-only: SQLite's `max_page_count`, a stand-in for a small file system where a
        /// test cannot mount one. Nil (the default) leaves SQLite's limit alone.
        var maximumPageCount: Int?
        /// Test-only: the yields a waiting appender makes before it parks (nil: the mode's
        /// default, see `SpoolStore.spinLimit`).
        var waiterSpins: Int?

        /// The defaults.
        public init() {}

        /// The defaults with another durability mode.
        package init(durability: Durability) {
            self.durability = durability
        }
    }
}

extension SpoolStore.Configuration {
    /// The smallest ``maximumBytes``, 256 KiB: an empty spool's tables and indexes take 56 KiB
    /// (a page each), so a bound near that would drop every entry (64 KiB, the former minimum,
    /// did).
    package static let minimumMaximumBytes: Int64 = 256 << 10
    /// The fewest checkpoint pages a small file system or bound brings the threshold down to.
    static let minimumCheckpointPages = 16

    /// The checkpoint threshold in force: ``checkpointPages``, lowered so that the WAL's reserve
    /// (17 thresholds' worth of pages) is at most an eighth of a file system of
    /// `fileSystemBytes` and a quarter of ``maximumBytes``. A fixed 68 MB reserve kept a spool on
    /// an 8 MiB file system from storing anything.
    func effectiveCheckpointPages(fileSystemBytes: Int64?) -> Int {
        var reserve = Int64(max(1, min(checkpointPages, 1 << 20))) * Self.walReservePerPage
        if let fileSystemBytes, fileSystemBytes > 0 { reserve = min(reserve, fileSystemBytes / 8) }
        if let maximumBytes { reserve = min(reserve, maximumBytes / 4) }
        return max(Int(reserve / Self.walReservePerPage), min(checkpointPages, Self.minimumCheckpointPages), 1)
    }

    /// WAL bytes kept free per checkpoint page: the RESTART threshold (16 thresholds) and one more.
    static let walReservePerPage: Int64 = 17 * 4096
}
