import CSQLite
import Foundation

/// `spool check --repair`: salvaging what a damaged spool still holds.
extension SpoolStore {
    /// What ``repair(path:clock:progress:)`` saved and lost.
    package struct RepairReport: Sendable, Codable, Hashable {
        /// A range of rowids (for `entries`, entry ids) that could not be read. Some ids in it
        /// may never have existed; `last` is nil when everything from `first` on was lost.
        package struct IDRange: Sendable, Codable, Hashable {
            /// The first rowid in doubt.
            package var first: Int64
            /// The last rowid in doubt, or nil for "to the end of the table".
            package var last: Int64?
        }

        /// One table's salvage.
        package struct Table: Sendable, Codable, Hashable {
            /// The table's name.
            package var name: String
            /// Rows copied into the new spool.
            package var saved = 0
            /// Rows read but refused by the schema (nonsense a damaged page left).
            package var rejected = 0
            /// Rowid ranges that could not be read.
            package var lostRanges: [IDRange] = []
            /// Damaged regions met while reading.
            package var errors = 0
            /// False when nothing of the table could be read.
            package var readable = true
            /// What else to know, for a person.
            package var note: String?

            init(name: String) { self.name = name }

            /// The most rows that can have been lost: the lost ranges' sizes plus the rejected
            /// rows; nil when a range is open-ended or the table was unreadable.
            package var lostAtMost: Int64? {
                guard readable else { return nil }
                if note?.hasPrefix("a damaged page") == true { return nil }
                var total = Int64(rejected)
                for range in lostRanges {
                    guard let last = range.last else { return nil }
                    total += last - range.first + 1
                }
                return total
            }
        }

        /// The repaired spool: a fresh file at the damaged one's path.
        package var path: String
        /// Where the damaged file (with its -wal and -shm) was kept.
        package var damagedMovedTo: String
        /// Per table, in the order they were copied.
        package var tables: [Table]
        /// `meta.id_floor` in the new spool: at least every id seen, so no id is ever reused.
        package var idFloor: Int64
        /// Whether the new file passed `PRAGMA integrity_check`.
        package var integrityOK: Bool
        /// How long it took, in seconds.
        package var seconds: Double

        /// The `entries` table's part of the report.
        package var entries: Table? { tables.first { $0.name == "entries" } }
        /// Whether every row was read and kept.
        package var lostNothing: Bool { tables.allSatisfy { $0.readable && $0.lostRanges.isEmpty && $0.rejected == 0 && $0.errors == 0 } }
    }

    /// The tables of a spool in copy order: `meta` first (its id floor bounds the lost ranges
    /// of `entries`), then `sinks`, then the rest.
    private static let salvageOrder: [(name: String, withoutRowID: Bool, conflict: Salvage.Conflict)] = [
        ("meta", false, .replace), ("sinks", false, .replace), ("entries", false, .ignore),
        ("dead_letters", false, .ignore), ("drops", false, .ignore),
        ("counters", true, .replace), ("counter_marks", true, .replace),
        ("commit_times", false, .ignore), ("delivery_latency", true, .replace),
    ]

    /// Salvages every readable row of a damaged spool into a new file at the same path and
    /// keeps the damaged file aside as `<path>.corrupt-<UTC time>` (with its -wal and -shm).
    ///
    /// The new spool is created through the normal open path (current schema). Entry ids, sink
    /// positions and counters, dead letters, drops and counters are preserved; leases are
    /// cleared; `meta.id_floor` is raised to at least every id seen, so no id is ever reused.
    ///
    /// Repair refuses, before it starts and again before it swaps the files, while another
    /// process has the spool open (an app, `spool ingest`, `spool forward`, a `sqlite3` shell)
    /// or a forwarder holds a live lease on one of its sinks, naming it: a writer would go on
    /// writing into the file set aside. The swap happens under an exclusive lock, and is
    /// refused if the file changed while it was being salvaged.
    ///
    /// ```swift
    /// let report = try SpoolStore.repair(path: "app.spool")
    /// print(report.entries?.saved ?? 0, "entries saved; damaged file at", report.damagedMovedTo)
    /// ```
    ///
    /// - Parameters:
    ///   - path: The damaged spool.
    ///   - clock: Names the file kept aside.
    ///   - progress: Called now and then with a table's name and the rows saved so far.
    /// - Returns: What was saved and lost, per table.
    /// - Throws: ``SpoolError``: `.io` for a missing file or one that cannot be moved,
    ///   `.notASpool` for a file that is not recognisably a spool, `.newerSchema` for a spool of
    ///   a newer Spool (neither is touched), `.inUse` or `.leaseHeld` naming who uses it,
    ///   `.corrupt` if the salvaged file does not pass its check.
    package static func repair(path: String, clock: any WallClock = SystemClock(),
                              progress: (String, Int) -> Void = { _, _ in }) throws(SpoolError) -> RepairReport {
        let started = ContinuousClock.now
        let found = try check(path: path)
        switch found.status {
        case .notASpool, .newerSchema:
            throw SpoolError(found.status == .notASpool ? .notASpool : .newerSchema, "\(found.message); not repaired")
        case .ok, .outdatedSchema, .corrupt, .empty:
            break
        }
        let doing = "repairing it"
        // Refuse before any work; the same checks run again, under the lock, before the swap.
        try SpoolFile.refuseLiveLease(path, now: clock.now.nanoseconds, doing: doing)
        try ExclusiveUse.take(path, doing: doing).release()
        let before = FileState(path)
        let building = "\(path).repairing-\(getpid())"
        SpoolFile.remove(building)
        let salvaged: (tables: [RepairReport.Table], idFloor: Int64, integrityOK: Bool)
        do {
            salvaged = try withoutActuallyEscaping(progress) { progress throws(SpoolError) in
                try salvage(from: path, into: building, now: clock.now.nanoseconds, progress: progress)
            }
        } catch {
            // The spool is left as it was; an incomplete copy would only take up room.
            SpoolFile.remove(building)
            throw error
        }
        let (tables, idFloor, integrityOK) = salvaged
        let exclusive: ExclusiveUse
        do throws(SpoolError) {
            try SpoolFile.refuseLiveLease(path, now: clock.now.nanoseconds, doing: doing)
            exclusive = try ExclusiveUse.take(path, doing: doing)
            guard FileState(path) == before else {
                throw SpoolError(.inUse, "\(path) was written while it was being repaired; nothing was changed: stop every process using it and run the repair again")
            }
        } catch {
            SpoolFile.remove(building)
            throw error
        }
        defer { exclusive.release() }
        let movedTo = try swap(building, into: path, now: clock.now.nanoseconds)
        return RepairReport(path: path, damagedMovedTo: movedTo, tables: tables, idFloor: idFloor, integrityOK: integrityOK,
                            seconds: Double((ContinuousClock.now - started).totalNanoseconds) / 1e9)
    }

    /// The books after a salvage. Entries the damage took (and ids a lost range raised the
    /// floor over) count as dropped for every sink that had not passed them; a sink that
    /// counted more than it accepted (a lost dead letter row cannot do that, but a hand-edited
    /// file can) has its accepted raised, so the books balance again either way. A spool
    /// salvaged from before schema 7 (or whose version cannot be read) starts its books here,
    /// as the migration does.
    private static func rebalanceBooks(_ target: Connection, sourceVersion: Int64?) throws(SpoolError) {
        let difference = "(SELECT accepted - delivered - dead_lettered - dropped - pending FROM sink_books WHERE sink = sinks.name)"
        if let sourceVersion, sourceVersion >= 7 {
            try target.execute("""
                UPDATE sinks SET dropped = dropped + max(0, \(difference)), accepted_before = accepted_before + max(0, -\(difference))
                """)
        } else {
            try target.execute("""
                UPDATE sinks SET
                    counted_from = max(COALESCE((SELECT max(id) FROM entries), 0), (SELECT value FROM meta WHERE key = 'id_floor')),
                    skipped = 0, dropped = 0,
                    accepted_before = delivered + dead_lettered
                        + (SELECT count(*) FROM entries WHERE id > sinks.position AND (only_sink IS NULL OR only_sink = sinks.name))
                """)
        }
    }

    /// Puts the salvaged spool at `path` and keeps the damaged one as `<path>.corrupt-<UTC time>`,
    /// so that a power cut at any moment leaves a whole spool at `path`: the damaged one (the
    /// repair did not happen; the next open sets it aside) or the salvaged one, never none. So
    /// the damaged file gets its second name by a link while `path` still holds it, the salvaged
    /// file replaces it in one rename, and the directory is synced before returning (a rename is
    /// on disk only once its directory is; the salvaged file's bytes were synced by its last
    /// checkpoint). The damaged file's WAL goes first, before the swap: replayed over the
    /// salvaged file it would damage it.
    /// - Returns: Where the damaged file was kept.
    private static func swap(_ building: String, into path: String, now: Int64) throws(SpoolError) -> String {
        let target = SpoolFile.asideName(path, now: now)
        for extra in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + extra) {
            DirectoryChanges.rename(path + extra, target + extra)
        }
        // A file system without hard links: a plain rename, with a moment without a spool.
        if DirectoryChanges.link(path, target) != 0 {
            let code = DirectoryChanges.rename(path, target)
            guard code == 0 else {
                throw SpoolError(.io, "\(path) is damaged and could not be moved aside to \(target): \(String(cString: strerror(code)))")
            }
        }
        let code = DirectoryChanges.rename(building, path)
        guard code == 0 else {
            throw SpoolError(.io, "the salvaged spool \(building) could not be moved to \(path): \(String(cString: strerror(code))); the damaged file is at \(target)")
        }
        for suffix in ["-wal", "-shm"] { DirectoryChanges.rename(building + suffix, path + suffix) }
        try DirectoryChanges.syncDirectory(of: path)
        return target
    }

    /// Copies into a fresh spool at `building`; closes both files before returning.
    private static func salvage(from path: String, into building: String, now: Int64,
                                progress: @escaping (String, Int) -> Void) throws(SpoolError) -> ([RepairReport.Table], Int64, Bool) {
        var configuration = Configuration()
        configuration.recoverCorruptFile = false
        let (target, _) = try SpoolFile.openWriter(path: building, configuration: configuration, now: now)
        // A WAL of another database is left out: only what the file itself holds is ours.
        let source = try Connection(path: path, create: false, readOnly: true, immutable: SpoolFile.foreignWAL(path) != nil)
        // Catch damaged cells as errors instead of reading past them.
        try? source.execute("PRAGMA cell_size_check = ON")
        // A truncated file's header claims more pages than the file has, which SQLite refuses
        // as a whole unless writable_schema is on; then it reads the pages that are there (the
        // connection stays read-only).
        try? source.execute("PRAGMA writable_schema = ON")
        let salvage = Salvage(source: source, target: target, progress: progress)
        var tables: [RepairReport.Table] = []
        let idFloor: Int64 = try target.transaction { () throws(SpoolError) -> Int64 in
            for table in salvageOrder {
                var lowest: Int64 = 1
                if table.name == "entries" {
                    lowest = (try target.scalarInt("SELECT value FROM meta WHERE key = 'id_floor'") ?? 0) + 1
                }
                tables.append(salvage.copy(table.name, withoutRowID: table.withoutRowID, conflict: table.conflict, lowestRowID: lowest))
                if let failure = salvage.writeFailure { throw failure }
            }
            try target.execute("UPDATE sinks SET lease_owner = NULL, lease_expires_ns = NULL")
            // Never reuse an id: not one read, not one in a lost range, not one a sink passed.
            var highest = try target.scalarInt("""
                SELECT max(COALESCE((SELECT max(id) FROM entries), 0),
                           COALESCE((SELECT max(position) FROM sinks), 0),
                           COALESCE((SELECT max(entry_id) FROM dead_letters), 0),
                           COALESCE((SELECT max(last_id) FROM drops), 0),
                           COALESCE((SELECT value FROM meta WHERE key = 'id_floor'), 0))
                """) ?? 0
            for range in tables.first(where: { $0.name == "entries" })?.lostRanges ?? [] {
                highest = max(highest, range.last ?? range.first)
            }
            let raise = try target.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('id_floor', ?)")
            raise.bind(1, highest)
            try raise.run()
            try rebalanceBooks(target, sourceVersion: try? source.scalarInt("PRAGMA user_version"))
            return highest
        }
        _ = try? target.scalarInt("PRAGMA wal_checkpoint(TRUNCATE)")
        var integrityOK = true
        do throws(SpoolError) {
            try SpoolFile.verify(target, full: true)
        } catch {
            integrityOK = false
        }
        guard integrityOK else {
            throw SpoolError(.corrupt, "the salvaged copy \(building) failed its integrity check; \(path) was left as it is")
        }
        return (tables, idFloor, integrityOK)
    }
}

/// What tells that a file was written: identity, size and modification time of the database
/// file and its WAL.
private struct FileState: Equatable {
    var file: [Int64]
    var wal: [Int64]

    init(_ path: String) {
        file = Self.state(path)
        wal = Self.state(path + "-wal")
    }

    private static func state(_ path: String) -> [Int64] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        return [Int64(truncatingIfNeeded: info.st_ino), Int64(info.st_size), Int64(modified.tv_sec), Int64(modified.tv_nsec)]
    }
}
