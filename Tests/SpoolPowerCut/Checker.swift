import CSQLite
import Foundation
import Spool

/// Counts over the images checked, and the first findings in words.
public struct PowerCutSummary: Sendable {
    public var trials = 0
    public var images = 0
    public var modes: [PowerCutMode] = []
    /// fsync mode: an entry whose `append` returned before the cut is gone, or a sink's
    /// acknowledged position went back.
    public var lostAcknowledged = 0
    /// committed and buffered modes: the same for what had been synced before the cut.
    public var lostSynced = 0
    /// Set aside, failing `integrity_check`, ids out of order, holes, an id used twice.
    public var corrupt = 0
    /// The store could not open the image, or could not append after opening it.
    public var stuck = 0
    public var findings: [String] = []
    /// Per workload and mode ("sink/fsync"): trials, images checked, and images with a finding.
    public var byWorkload: [String: (trials: Int, images: Int, failed: Int)] = [:]

    /// One line per workload and mode, in the order of the enums.
    public var workloadLines: [String] {
        PowerCutWorkload.allCases.flatMap { workload in
            PowerCutMode.allCases.compactMap { mode in
                byWorkload["\(workload.rawValue)/\(mode.rawValue)"].map { "  \(workload.rawValue)/\(mode.rawValue): trials=\($0.trials) images=\($0.images) failed=\($0.failed)" }
            }
        }
    }

    public var failed: Bool { lostAcknowledged + lostSynced + corrupt + stuck > 0 }

    /// The one line tools/powercut ends with.
    public var line: String {
        "powercut: trials=\(trials) images=\(images) modes=\(modes.map(\.rawValue).joined(separator: ",")) lost_acknowledged=\(lostAcknowledged) lost_synced=\(lostSynced) corrupt=\(corrupt) stuck=\(stuck)"
    }
}

/// Opens an image with the real store (SQLite's default VFS), as a restarting app or
/// `spool forward` would, and checks what the mode promises.
enum PowerCutChecker {
    struct Verdict {
        var lostAcknowledged: String?
        var lostSynced: String?
        var corrupt: String?
        var stuck: String?
    }

    static func check(_ recording: Recording, cut: Int, mode: PowerCutMode, workload: PowerCutWorkload, path: String) -> Verdict {
        var verdict = Verdict()
        // Never half-migrated: whatever version the file says, its schema is that version's
        // (read from a copy: the image is opened first by the store, as it was left).
        if workload == .migrate, let problem = schemaProblem(ofCopyOf: path) {
            verdict.corrupt = problem
        }
        var configuration = SpoolStore.Configuration(durability: mode.durability)
        configuration.report = { _ in }
        let store: SpoolStore
        do {
            store = try SpoolStore(path: path, configuration: configuration)
        } catch {
            verdict.stuck = "the store did not open: \(error)"
            return verdict
        }
        defer { try? store.close() }
        // A damaged spool is set aside by design; what it had is then checked as lost below.
        if let aside = store.recoveredFrom, !workload.damages {
            verdict.corrupt = "the file was set aside to \(aside)"
            return verdict
        }
        guard let rows = read(path) else {
            verdict.corrupt = "cannot read the reopened spool"
            return verdict
        }
        if rows.integrity != "ok" { verdict.corrupt = verdict.corrupt ?? "integrity_check: \(rows.integrity)" }
        if rows.version != Migrations.latest { verdict.corrupt = verdict.corrupt ?? "the open store left schema version \(rows.version)" }

        // What the store promised before the cut, and (committed, buffered) before the last sync
        // of the WAL: a WAL sync makes every frame written before it durable.
        let promisedBy: Int
        if mode == .fsync {
            promisedBy = cut
        } else {
            let lastWALSync = recording.events[..<cut].lastIndex { $0.kind == .sync && recording.files[$0.file].hasSuffix("-wal") }
            promisedBy = lastWALSync ?? -1
        }
        func lost(_ what: String) {
            if mode == .fsync { verdict.lostAcknowledged = verdict.lostAcknowledged ?? what } else { verdict.lostSynced = verdict.lostSynced ?? what }
        }
        // Entries every sink passed may be gone; each sink's own position is checked below.
        let position = rows.positions.values.min() ?? 0
        var delivered: [String: Int64] = [:]
        for fact in recording.facts where fact.at <= cut {
            if case .claimed(let entries, _) = fact { for entry in entries { delivered[entry.message] = entry.id } }
        }
        let present = Set(rows.entries.map(\.message))
        func accounted(_ message: String) -> Bool {
            present.contains(message) || (delivered[message].map { $0 <= position } ?? false)
        }
        for fact in recording.facts where fact.at <= cut {
            switch fact {
            case .appended(let message, _) where fact.at <= promisedBy && !accounted(message):
                lost("entry \(message.prefix(12)) was promised at event \(fact.at) and is gone (cut at \(cut))")
            case .acknowledged(let sink, let through, _) where (rows.positions[sink] ?? 0) < through:
                // Every mode: a sink's position never moves back (acknowledgements are synced),
                // so nothing a sink acknowledged is sent again and no id it saw is used again.
                lost("sink \(sink)'s position \(rows.positions[sink] ?? 0) is below \(through), acknowledged at event \(fact.at) (cut at \(cut)): sent again")
            default: break
            }
        }
        // Ids in order, no holes after the position, each thread's entries a prefix in order.
        // A damaged spool's salvage has holes by nature: only the ids after it are checked.
        let damagedEra = rows.entries.filter { $0.message.hasPrefix("d-") }.map(\.id).max() ?? 0
        let ids = rows.entries.map(\.id).filter { $0 > max(position, damagedEra) }
        if let first = ids.first, ids != Array(first..<(first + Int64(ids.count))) {
            verdict.corrupt = verdict.corrupt ?? "holes among the ids after position \(position): \(ids.prefix(20))"
        } else if !rows.positions.isEmpty, !workload.damages, let first = ids.first, first != position + 1 {
            verdict.corrupt = verdict.corrupt ?? "entries after position \(position) start at \(first)"
        }
        var seen: [Int: [Int]] = [:]
        for entry in rows.entries {
            guard let (thread, n) = parse(entry.message) else { continue }
            seen[thread, default: []].append(n)
        }
        for (message, id) in delivered where id <= position && !present.contains(message) {
            if let (thread, n) = parse(message) { seen[thread, default: []].append(n) }
        }
        for (thread, numbers) in seen {
            let sorted = Set(numbers).sorted()
            if sorted != Array(0..<sorted.count) {
                verdict.corrupt = verdict.corrupt ?? "thread \(thread)'s surviving entries are not a prefix: \(sorted.prefix(20))"
            }
        }
        for (thread, numbers) in seen {
            let inIDOrder = rows.entries.compactMap { parse($0.message) }.filter { $0.0 == thread }.map(\.1)
            if inIDOrder != inIDOrder.sorted() {
                verdict.corrupt = verdict.corrupt ?? "thread \(thread)'s entries are out of order: \(numbers.prefix(20))"
            }
        }
        // Dead letters and requeue: per sink, an entry is pending at most once (in `entries`
        // for it, or in its dead letters), and one it dead-lettered is still in one of the two
        // unless its requeued copy was delivered.
        for sink in rows.positions.keys {
            let pending = rows.entries.filter { $0.id > rows.positions[sink]! && ($0.onlySink == nil || $0.onlySink == sink) }.map(\.message)
            let letters = rows.deadLetters.filter { $0.sink == sink }.map(\.message)
            var copies: [String: Int] = [:]
            for message in pending + letters { copies[message, default: 0] += 1 }
            if let (message, count) = copies.first(where: { $0.value > 1 }) {
                verdict.corrupt = verdict.corrupt ?? "entry \(message.prefix(12)) is \(count) times pending or dead-lettered for sink \(sink)"
            }
            for fact in recording.facts where fact.at <= cut {
                guard case .deadLettered(sink, let entries, _) = fact else { continue }
                for (id, message) in entries where copies[message] == nil {
                    if let again = delivered[message], again > id, again <= rows.positions[sink]! { continue }
                    lost("entry \(message.prefix(12)), dead-lettered by sink \(sink) at event \(fact.at), is neither a dead letter nor pending for it (cut at \(cut))")
                }
            }
        }
        // Repair: once it returned, the repaired spool is in place with everything it saved; at
        // any moment the spool is the damaged one (set aside at open) or the repaired one, whole.
        let damagedAt = recording.facts.compactMap { if case .damaged(let at) = $0 { at } else { nil } }.first
        let originals = PowerCutWorkload.damagedEraEntries
        for fact in recording.facts {
            guard case .repaired(let saved, let at) = fact else { continue }
            let found = Set(rows.entries.map(\.message).filter { $0.hasPrefix("d-") })
            if let damagedAt, damagedAt <= cut, found.isEmpty, store.recoveredFrom == nil {
                lost("neither the damaged spool nor the repaired one is at \(path) (cut at \(cut), damaged at \(damagedAt), repaired at \(at))")
            }
            if at <= cut, found != Set(saved) {
                lost("the repair returned at event \(at) with \(saved.count) entries saved; \(found.count) of them are in the spool (cut at \(cut))")
            } else if let damagedAt, damagedAt <= cut, !found.isEmpty, found != Set(saved), found.count != originals {
                // (All the originals: the damaged file, whose damage a WAL kept from before it hid.)
                verdict.corrupt = verdict.corrupt ?? "a half-repaired spool: \(found.count) of the \(saved.count) saved entries"
            }
        }
        // It keeps working: an append gets a new id, above everything a sink passed.
        let highest = max(position, rows.entries.last?.id ?? 0, delivered.values.max() ?? 0)
        do {
            try store.append(LogEntry(timestamp: 0, level: .info, topic: "powercut", message: "after the cut"))
            try store.flush()
            for sink in rows.positions.keys.sorted() { _ = try store.claim(sink: sink, owner: "w", maxCount: 10) }
        } catch {
            verdict.stuck = "after opening: \(error)"
            return verdict
        }
        if let after = read(path)?.entries.last?.id, after <= highest {
            verdict.corrupt = verdict.corrupt ?? "the next id \(after) is not above \(highest): an id used twice"
        }
        return verdict
    }

    static func parse(_ message: String) -> (Int, Int)? {
        guard message.hasPrefix("t"), let space = message.firstIndex(of: " ") else { return nil }
        let parts = message[message.index(after: message.startIndex)..<space].split(separator: "-")
        guard parts.count == 2, let thread = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        return (thread, n)
    }

    struct Rows {
        var entries: [(id: Int64, message: String, onlySink: String?)]
        var positions: [String: Int64]
        var deadLetters: [(sink: String, message: String)]
        var integrity: String
        var version: Int
    }

    /// Reads the spool with a plain connection (default VFS unless given), beside the open store.
    static func read(_ path: String, vfs: String? = nil) -> Rows? {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, vfs) == SQLITE_OK, let db else {
            sqlite3_close_v2(db)
            return nil
        }
        defer { sqlite3_close_v2(db) }
        func rows(_ sql: String, _ each: (OpaquePointer) -> Void) -> Bool {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else { return false }
            defer { sqlite3_finalize(statement) }
            while true {
                let rc = sqlite3_step(statement)
                if rc == SQLITE_ROW { each(statement) } else { return rc == SQLITE_DONE }
            }
        }
        var result = Rows(entries: [], positions: [:], deadLetters: [], integrity: "", version: 0)
        var problems: [String] = []
        guard rows("PRAGMA integrity_check(5)", { problems.append(String(cString: sqlite3_column_text($0, 0))) }) else { return nil }
        result.integrity = problems.joined(separator: "; ")
        guard rows("SELECT id, message, only_sink FROM entries ORDER BY id", {
            let only = sqlite3_column_type($0, 2) == SQLITE_NULL ? nil : String(cString: sqlite3_column_text($0, 2))
            result.entries.append((sqlite3_column_int64($0, 0), String(cString: sqlite3_column_text($0, 1)), only))
        }) else { return nil }
        _ = rows("SELECT sink, message FROM dead_letters ORDER BY id", {
            result.deadLetters.append((String(cString: sqlite3_column_text($0, 0)), String(cString: sqlite3_column_text($0, 1))))
        })
        _ = rows("PRAGMA user_version", { result.version = Int(sqlite3_column_int64($0, 0)) })
        _ = rows("SELECT name, position FROM sinks", { result.positions[String(cString: sqlite3_column_text($0, 0))] = sqlite3_column_int64($0, 1) })
        return result
    }
}

// MARK: - Schema versions

extension PowerCutChecker {
    enum Migrations {
        static var latest: Int { SpoolStore.latestSchemaVersion }

        /// The schema (`sqlite_master` less the data) each version has when made from scratch.
        static let schemas: [Int: String] = {
            var schemas: [Int: String] = [:]
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("powercut-schemas-\(getpid())").path
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for version in 1...latest {
                let path = "\(directory)/v\(version).spool"
                try? SpoolStore.createSpool(path: path, schemaVersion: version)
                schemas[version] = PowerCutChecker.schema(path)?.text
            }
            return schemas
        }()
    }

    /// The version a file says it has and its schema's text, read with a plain read-write
    /// connection (as any open would: it may recover the WAL); nil when it cannot be read.
    static func schema(_ path: String) -> (version: Int, text: String)? {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK, let db else {
            sqlite3_close_v2(db)
            return nil
        }
        defer { sqlite3_close_v2(db) }
        guard sqlite3_exec(db, "BEGIN", nil, nil, nil) == SQLITE_OK else { return nil }
        defer { sqlite3_exec(db, "COMMIT", nil, nil, nil) }
        var version = -1
        var lines: [String] = []
        func each(_ sql: String, _ body: (OpaquePointer) -> Void) -> Bool {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else { return false }
            defer { sqlite3_finalize(statement) }
            while sqlite3_step(statement) == SQLITE_ROW { body(statement) }
            return true
        }
        guard each("PRAGMA user_version", { version = Int(sqlite3_column_int64($0, 0)) }),
              each("SELECT type, name, tbl_name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name", { row in
                  lines.append((0..<4).map { String(cString: sqlite3_column_text(row, $0)) }.joined(separator: " | "))
              })
        else { return nil }
        return (version, lines.joined(separator: "\n"))
    }

    /// A file whose schema is not the one its version says (a half-applied migration).
    static func schemaProblem(ofCopyOf path: String) -> String? {
        let copy = path + ".schema-check"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(copy + suffix) } }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: path + suffix) {
            guard (try? FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix)) != nil else { return "cannot copy \(path + suffix)" }
        }
        guard let (version, text) = schema(copy), version > 0 else { return nil }
        guard let expected = Migrations.schemas[version] else { return "schema version \(version) is unknown" }
        return text == expected ? nil : "schema version \(version), but not its schema (half-migrated?)"
    }
}
