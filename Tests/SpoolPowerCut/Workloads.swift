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
    /// them, and the store's own background checkpointer at its smallest threshold.
    case checkpoint
    /// Appends, close (the last connection checkpoints and deletes the WAL), open again, appends.
    case reopen

    func run(path: String, mode: PowerCutMode, log: FactLog) throws {
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
            let store = try SpoolStore(path: path, configuration: configuration)
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
                    let batch = try store.claim(sink: sink, owner: "w", maxCount: sink == "s" ? 3 + round % 3 : 100)
                    log.note { .claimed(batch.entries.map { ($0.id, $0.message) }, at: $0) }
                    let letters = sink == "s" && round % 4 == 3 ? batch.entries.prefix(1).map { DeadLetter(entryID: $0.id, status: 400, reason: "bad", attempts: 1) } : []
                    try store.acknowledge(sink: sink, owner: "w", through: batch.lastID, delivered: batch.entries.count - letters.count, deadLetters: letters)
                    log.note { .acknowledged(sink: sink, through: batch.lastID, at: $0) }
                }
            }
            try store.close()
        case .checkpoint:
            let store = try SpoolStore(path: path, configuration: configuration)
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
        }
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
