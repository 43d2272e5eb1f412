import CSQLite
import Foundation
import Spool

/// The durability modes under test.
public enum PowerCutMode: String, CaseIterable, Sendable {
    case fsync, committed, buffered

    var durability: SpoolStore.Durability {
        switch self {
        case .fsync: .fsync
        case .committed: .committed
        case .buffered: .buffered(maxDelay: .milliseconds(20))
        }
    }
}

/// What a workload does to a new spool while its files are recorded.
public enum PowerCutWorkload: String, CaseIterable, Sendable {
    /// One thread, one entry per append.
    case append
    /// Four threads appending at once (group commit), single entries and batches.
    case group
    /// Appends, claims, acknowledgements (deleting what every sink passed), dead letters.
    case sink
    /// Appends with PASSIVE, RESTART and TRUNCATE checkpoints from another connection between
    /// them, and the store's own checkpoints at its smallest threshold: inline, or on the
    /// background thread of `run()` (in committed mode, or in odd trials).
    case checkpoint
    /// Appends, close (the last connection checkpoints and deletes the WAL), open again, appends.
    case reopen
    /// A new spool, small enough to be cut at every event: created (its name, the journal
    /// that turns it to WAL mode, the WAL, the first migration), one append, closed, opened
    /// again, one more.
    case create
    /// Dead letters put back in the spool (`spool dlq requeue`): rows move from `dead_letters`
    /// to `entries`, addressed to their sink only, and are claimed and acknowledged again.
    case requeue
    /// A spool made at an older schema version (1 to 5, by trial and mode) with entries and a sink, then
    /// upgraded: by the store's open or by `spool migrate`, then appends.
    case migrate
    /// Appends, acknowledgements that delete most of them (free pages), close, `spool compact`
    /// (checkpoint, VACUUM, truncate the WAL), open again, appends.
    case compact
    /// A spool damaged on disk (garbage over one of its pages), then `spool check --repair`:
    /// salvage into a new file beside it, the damaged file linked aside, the new one renamed in;
    /// then opened and appended to.
    case repair
    /// A spool damaged on disk, then opened by the store: quarantined (renamed aside), a fresh
    /// spool created in its place and appended to.
    case quarantine

    /// Whether the workload damages its spool on purpose: the store may set a file aside then,
    /// and ids of the damaged era may have holes (a repair loses the rows of a damaged page).
    var damages: Bool { self == .repair || self == .quarantine }

    /// How many entries the damaged era of `repair` and `quarantine` appends.
    static let damagedEraEntries = 60

    func run(path: String, mode: PowerCutMode, log: FactLog, trial: Int = 0) throws {
        var configuration = SpoolStore.Configuration(durability: mode.durability)
        configuration.report = { _ in }
        if self == .checkpoint { configuration.checkpointPages = 1 }
        let appender = Appender(mode: mode, log: log)
        switch self {
        case .append:
            let store = try SpoolStore(path: path, configuration: configuration)
            for n in 0..<40 { try appender.append(store, thread: 0, n: n) }
            try appender.settle(store)
            try store.close()
        case .group:
            // With the store's background work (checkpointer, buffered committer) in fsync and
            // buffered modes, without it (inline checkpoints) in committed mode; the other way
            // round in odd trials.
            let store = try SpoolStore(path: path, configuration: configuration)
            let background = (mode != .committed) != (trial % 2 == 1) ? Self.runInBackground(store) : nil
            defer { background?() }
            let failures = FailureBox()
            DispatchQueue.concurrentPerform(iterations: 4) { thread in
                do {
                    for n in 0..<12 { try appender.append(store, thread: thread, n: n) }
                    try appender.appendBatch(store, thread: thread, from: 12, count: 4)
                } catch {
                    failures.set(error)
                }
            }
            if let error = failures.error { throw error }
            try appender.settle(store)
            try store.close()
        case .sink:
            // Two sinks: "s" acknowledges every round, "lag" every third, so entries are
            // deleted only once both passed them.
            let store = try SpoolStore(path: path, configuration: configuration)
            try store.registerSink("s")
            try store.registerSink("lag")
            var n = 0
            for round in 0..<12 {
                for _ in 0..<4 {
                    try appender.append(store, thread: 0, n: n)
                    n += 1
                }
                try appender.settle(store)
                for sink in round % 3 == 2 ? ["s", "lag"] : ["s"] {
                    // Every other round as a scheduler claims the next batch of a backlog: no sync
                    // at the claim, `makeDurable` before anything is sent ("claimed" is the send).
                    let syncing = round % 2 == 0
                    let batch = try store.claim(sink: sink, owner: "w", maxCount: sink == "s" ? 3 + round % 3 : 100, syncing: syncing)
                    if !syncing { try store.makeDurable(through: batch.lastID) }
                    log.note { .claimed(batch.entries.map { ($0.id, $0.message) }, at: $0) }
                    let letters = sink == "s" && round % 4 == 3 ? batch.entries.prefix(1).map { DeadLetter(entryID: $0.id, status: 400, reason: "bad", attempts: 1) } : []
                    try store.acknowledge(sink: sink, owner: "w", through: batch.lastID, delivered: batch.entries.count - letters.count, deadLetters: letters)
                    log.note { .acknowledged(sink: sink, through: batch.lastID, at: $0) }
                }
            }
            try store.close()
        case .checkpoint:
            // The other way round from `group`: the background checkpointer in committed mode.
            let store = try SpoolStore(path: path, configuration: configuration)
            let background = (mode == .committed) != (trial % 2 == 1) ? Self.runInBackground(store) : nil
            defer { background?() }
            var db: OpaquePointer?
            guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, Recorder.vfsName) == SQLITE_OK else {
                sqlite3_close_v2(db)
                throw PowerCutError("cannot open a checkpointing connection to \(path)")
            }
            defer { sqlite3_close_v2(db) }
            sqlite3_busy_timeout(db, 5000)
            let kinds = ["PASSIVE", "RESTART", "TRUNCATE"]
            for n in 0..<30 {
                try appender.append(store, thread: 0, n: n)
                if n % 5 == 4 {
                    try appender.settle(store)
                    sqlite3_exec(db, "PRAGMA wal_checkpoint(\(kinds[(n / 5) % 3]))", nil, nil, nil)
                }
            }
            try appender.settle(store)
            try store.close()
        case .reopen:
            var n = 0
            for _ in 0..<3 {
                let store = try SpoolStore(path: path, configuration: configuration)
                for _ in 0..<8 {
                    try appender.append(store, thread: 0, n: n)
                    n += 1
                }
                try appender.settle(store)
                try store.close()
            }
        case .create:
            for n in 0..<2 {
                let store = try SpoolStore(path: path, configuration: configuration)
                try appender.append(store, thread: 0, n: n)
                try appender.settle(store)
                try store.close()
            }
        case .requeue:
            // "s" rejects every third entry; the dead letters go back for "s" only, twice.
            let store = try SpoolStore(path: path, configuration: configuration)
            try store.registerSink("s")
            try store.registerSink("other")
            var n = 0
            for round in 0..<6 {
                for _ in 0..<5 {
                    try appender.append(store, thread: 0, n: n)
                    n += 1
                }
                try appender.settle(store)
                for sink in ["s", "other"] {
                    let batch = try store.claim(sink: sink, owner: "w", maxCount: 100)
                    log.note { .claimed(batch.entries.map { ($0.id, $0.message) }, at: $0) }
                    let letters = sink == "s" ? batch.entries.filter { $0.id % 3 == 0 }.map { DeadLetter(entryID: $0.id, status: 400, reason: "bad", attempts: 1) } : []
                    try store.acknowledge(sink: sink, owner: "w", through: batch.lastID, delivered: batch.entries.count - letters.count, deadLetters: letters)
                    log.note { .acknowledged(sink: sink, through: batch.lastID, at: $0) }
                    let rejected = batch.entries.filter { entry in letters.contains { $0.entryID == entry.id } }.map { ($0.id, $0.message) }
                    if !rejected.isEmpty { log.note { .deadLettered(sink: sink, rejected, at: $0) } }
                }
                if round % 2 == 1 {
                    let ids = try store.requeueDeadLetters(matching: DeadLetterFilter(sink: "s"))
                    log.note { .requeued(count: ids.count, at: $0) }
                }
            }
            try store.close()
        case .migrate:
            // The version and the path of the upgrade vary by trial and by mode, so one pass over
            // the modes (the test, CI) already covers three versions and both paths.
            let variant = trial + PowerCutMode.allCases.firstIndex(of: mode)!
            let version = 1 + variant % (SpoolStore.latestSchemaVersion - 1)
            try SpoolStore.createSpool(path: path, schemaVersion: version)
            try Self.sql(path) { db in
                try Self.exec(db, "INSERT INTO sinks (name, position, created_ns) VALUES ('s', 0, 0)")
                for n in 0..<12 {
                    try Self.exec(db, "INSERT INTO entries (ts_ns, level, topic, message) VALUES (\(n), 'info', 'powercut', '\(Appender.message(thread: 0, n: n))')")
                }
                try Self.exec(db, "UPDATE sinks SET position = 4")
            }
            // The plain connection commits with synchronous=FULL (SQLite's default): promised.
            for n in 0..<12 { log.note { .appended(Appender.message(thread: 0, n: n), at: $0) } }
            log.note { .acknowledged(sink: "s", through: 4, at: $0) }
            if variant % 2 == 1 { _ = try SpoolStore.migrate(path: path) }
            let store = try SpoolStore(path: path, configuration: configuration)
            for n in 12..<20 { try appender.append(store, thread: 0, n: n) }
            try appender.settle(store)
            try store.close()
        case .compact:
            var n = 0
            let store = try SpoolStore(path: path, configuration: configuration)
            try store.registerSink("s")
            for _ in 0..<30 {
                try appender.append(store, thread: 0, n: n)
                n += 1
            }
            try appender.settle(store)
            let batch = try store.claim(sink: "s", owner: "w", maxCount: 24)
            log.note { .claimed(batch.entries.map { ($0.id, $0.message) }, at: $0) }
            try store.acknowledge(sink: "s", owner: "w", through: batch.lastID, delivered: batch.entries.count, deadLetters: [])
            log.note { .acknowledged(sink: "s", through: batch.lastID, at: $0) }
            // As a forwarder that stops: compaction refuses while a lease is live.
            try store.releaseLease(sink: "s", owner: "w")
            try store.close()
            _ = try SpoolStore.compact(path: path)
            let again = try SpoolStore(path: path, configuration: configuration)
            for _ in 0..<6 {
                try appender.append(again, thread: 0, n: n)
                n += 1
            }
            try appender.settle(again)
            try again.close()
        case .repair, .quarantine:
            // The damaged era: entries "d-<n>" (not promised: the damage takes some), a sink.
            var old = configuration
            old.durability = .fsync
            // Every other trial (alternating by mode, so one pass over the modes has both) leaves
            // the damaged spool with a WAL holding its last entries (a process that ended
            // without closing it), so setting it aside moves a WAL too.
            let withWAL = (trial + PowerCutMode.allCases.firstIndex(of: mode)!) % 2 == 1
            let inFile = withWAL ? Self.damagedEraEntries - 10 : Self.damagedEraEntries
            func oldMessage(_ n: Int) -> String { "d-\(n) " + String(repeating: "y", count: 300) }
            try {
                // In a scope of its own: the store counts as open in this process until released.
                let first = try SpoolStore(path: path, configuration: old)
                try first.registerSink("s")
                try first.append(contentsOf: (0..<inFile).map { LogEntry(timestamp: Int64($0), level: .info, topic: "powercut", message: oldMessage($0)) })
                try first.close()
            }()
            // Everything into the database file (its WAL goes when this connection closes).
            try Self.sql(path) { try Self.exec($0, "PRAGMA wal_checkpoint(TRUNCATE)") }
            let pages = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0) / 4096
            guard pages > 8 else { throw PowerCutError("the spool has only \(pages) pages") }
            if withWAL {
                try Self.sql(path) { db in
                    spool_sqlite_no_checkpoint_on_close(db, 1)
                    for n in inFile..<Self.damagedEraEntries {
                        try Self.exec(db, "INSERT INTO entries (ts_ns, level, topic, message) VALUES (\(n), 'info', 'powercut', '\(oldMessage(n))')")
                    }
                }
            }
            // Garbage over a leaf of `entries` in the file (they were written last; with a WAL,
            // one its frames do not replace).
            try Recorder.damage(path, at: Int64(4096 * (pages - (withWAL ? 4 : 2))), with: Array(repeating: 0xA5, count: 4096))
            log.note { .damaged(at: $0) }
            if self == .repair {
                let report = try SpoolStore.repair(path: path)
                let saved = try Self.messages(path).filter { $0.hasPrefix("d-") }
                guard saved.count == report.entries?.saved, saved.count > 0, saved.count < Self.damagedEraEntries else {
                    throw PowerCutError("the repair saved \(report.entries?.saved ?? -1) entries, \(saved.count) read back")
                }
                log.note { .repaired(saved: saved, at: $0) }
            }
            let store = try SpoolStore(path: path, configuration: configuration)
            if self == .quarantine, store.recoveredFrom == nil { throw PowerCutError("the damaged spool was not set aside") }
            for n in 0..<10 { try appender.append(store, thread: 0, n: n) }
            try appender.settle(store)
            try store.close()
        }
    }

    /// Runs `body` on a plain connection through the recorder.
    static func sql(_ path: String, _ body: (OpaquePointer) throws -> Void) throws {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, Recorder.vfsName) == SQLITE_OK, let db else {
            sqlite3_close_v2(db)
            throw PowerCutError("cannot open \(path)")
        }
        defer { sqlite3_close_v2(db) }
        sqlite3_busy_timeout(db, 5000)
        try body(db)
    }

    static func exec(_ db: OpaquePointer, _ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw PowerCutError("\(sql.prefix(60)): \(String(cString: sqlite3_errmsg(db)))")
        }
    }

    /// Runs `store`'s background work (`run()`) until the returned closure is called, which
    /// stops it and waits for it to end. Called on a thread of its own, not the cooperative pool.
    static func runInBackground(_ store: SpoolStore) -> () -> Void {
        let ended = DispatchSemaphore(value: 0)
        let running = Task.detached {
            _ = try? await store.run()
            ended.signal()
        }
        return {
            running.cancel()
            ended.wait()
        }
    }

    /// The messages of `entries`, read with a plain read-only connection (default VFS).
    static func messages(_ path: String) throws -> [String] {
        guard let rows = PowerCutChecker.read(path, vfs: Recorder.vfsName) else { throw PowerCutError("cannot read \(path)") }
        return rows.entries.map(\.message)
    }
}

/// Appends messages `t<thread>-<n>` and notes when each was promised: at once in `committed`
/// and `fsync` modes, after the next `flush` in buffered mode.
final class Appender: @unchecked Sendable {
    let mode: PowerCutMode
    let log: FactLog
    private let lock = NSLock()
    private var unflushed: [String] = []

    init(mode: PowerCutMode, log: FactLog) {
        self.mode = mode
        self.log = log
    }

    static func message(thread: Int, n: Int) -> String {
        // Real-shaped: logfmt with quotes and some non-ASCII, a few hundred bytes.
        "t\(thread)-\(n) " + "level=info msg=\"request served\" path=/api/v1/items/\(n) user=\"zoë\" bytes=\(n * 37) " + String(repeating: "x", count: 150 + (n * 53) % 300)
    }

    func append(_ store: SpoolStore, thread: Int, n: Int) throws {
        let message = Self.message(thread: thread, n: n)
        try store.append(LogEntry(timestamp: Int64(n), level: .info, topic: "powercut", message: message))
        promise([message])
    }

    func appendBatch(_ store: SpoolStore, thread: Int, from start: Int, count: Int) throws {
        let messages = (start..<(start + count)).map { Self.message(thread: thread, n: $0) }
        try store.append(contentsOf: messages.enumerated().map { LogEntry(timestamp: Int64(start + $0.offset), level: .info, topic: "powercut", message: $0.element) })
        promise(messages)
    }

    private func promise(_ messages: [String]) {
        if mode == .buffered {
            lock.withLock { unflushed.append(contentsOf: messages) }
        } else {
            for message in messages { log.note { .appended(message, at: $0) } }
        }
    }

    /// Buffered mode: flush, and what was appended before is promised now.
    func settle(_ store: SpoolStore) throws {
        guard mode == .buffered else { return }
        let waiting = lock.withLock { () -> [String] in
            defer { unflushed.removeAll() }
            return unflushed
        }
        try store.flush()
        for message in waiting { log.note { .appended(message, at: $0) } }
    }
}

final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var first: (any Error)?
    func set(_ error: any Error) { lock.withLock { if first == nil { first = error } } }
    var error: (any Error)? { lock.withLock { first } }
}

struct PowerCutError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
