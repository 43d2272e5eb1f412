import CSQLite
import Foundation

/// Opening a spool file: path checks, creation with mode 0600, recognising a spool, a foreign
/// database or a damaged file, setting a damaged one aside, and migrating.
enum SpoolFile {
    /// What ``inspect(_:)`` found in a file.
    enum Kind {
        case empty
        case spool(version: Int)
    }

    /// A damaged file that was moved aside at open.
    struct Recovery: Sendable {
        var movedTo: String
        var reason: String
    }

    /// Opens the writing connection: checked, recovered when damaged (if allowed), in WAL mode
    /// with the durability's `synchronous`, and migrated to the latest version.
    static func openWriter(path: String, configuration: SpoolStore.Configuration, now: Int64) throws(SpoolError) -> (Connection, Recovery?) {
        try checkPath(path)
        do {
            return (try open(path: path, configuration: configuration), nil)
        } catch where error.code == .corrupt && configuration.recoverCorruptFile {
            let movedTo = try moveAside(path, now: now)
            let connection = try open(path: path, configuration: configuration)
            return (connection, Recovery(movedTo: movedTo, reason: error.message))
        }
    }

    private static func open(path: String, configuration: SpoolStore.Configuration) throws(SpoolError) -> Connection {
        try createIfMissing(path)
        // Before any read-write connection: closing one would checkpoint a foreign WAL into the file.
        if let foreign = foreignWAL(path) { throw SpoolError(.corrupt, foreign) }
        let connection = try Connection(path: path, create: false)
        applyBusyTimeout(connection, configuration.busyTimeout)
        try applyCacheSize(connection)
        // Until the file is recognised and verified, closing this connection must not write the
        // WAL into it: a damaged file is set aside exactly as it was found.
        spool_sqlite_no_checkpoint_on_close(connection.handle, 1)
        let kind = try inspect(connection)
        if configuration.verifyOnOpen { try verify(connection) }
        spool_sqlite_no_checkpoint_on_close(connection.handle, 0)
        // Only now, with the file recognised, change anything.
        let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw SpoolError(.io, "\(path): cannot switch to WAL mode (got \(mode ?? "nothing")); a spool needs a local file system that supports shared memory")
        }
        switch configuration.durability {
        case .fsync: try connection.execute("PRAGMA synchronous = FULL")
        case .committed, .buffered: try connection.execute("PRAGMA synchronous = NORMAL")
        }
        // Checkpoints run on a background connection, never on the append path.
        try connection.execute("PRAGMA wal_autocheckpoint = 0")
        // A reset WAL is truncated back to this size, so an outage's peak does not stay on disk.
        try connection.execute("PRAGMA journal_size_limit = \(64 << 20)")
        if let pages = configuration.maximumPageCount { _ = try connection.scalarInt("PRAGMA max_page_count = \(pages)") }
        if case .spool(let version) = kind, version == Migrations.latestVersion { return connection }
        if !configuration.migrate, case .spool(let version) = kind {
            throw SpoolError(.migrationFailed, "\(path) has schema version \(version); run `spool migrate --spool \(path)` to upgrade it to \(Migrations.latestVersion)")
        }
        // A migration may edit the schema's text in place (0006): this connection's parsed
        // schema would not see it, a fresh one does.
        if try Migrations.migrate(connection).isEmpty { return connection }
        return try open(path: path, configuration: configuration)
    }

    /// The page cache of each of the store's connections, in KiB (SQLite's default: 2000).
    /// What the store does is sequential: appends at the table's end, claims forward from a
    /// position, acknowledgements delete from the start, the checkpointer copies the WAL and the
    /// open's quick_check reads every page once. What is worth keeping between transactions is
    /// the B-tree's interior pages along those edges; full default caches were 1.8 MiB of a
    /// forwarder's memory for nothing (BENCHMARKS.md, "Peak RSS of `spool forward`").
    static let cacheKiB = 256
    /// Pages a write transaction may hold before SQLite spills dirty pages to the WAL in its
    /// middle: SQLite's default cache (2000 KiB of 4 KiB pages), so large transactions (a
    /// buffered commit writes ~2.7 MB) behave as before: the cache grows while one runs and
    /// shrinks back to ``cacheKiB`` when it ends. A 256 KiB spill threshold made buffered
    /// appends 8–12 % slower.
    static let spillPages = 500

    static func applyCacheSize(_ connection: Connection) throws(SpoolError) {
        try connection.execute("PRAGMA cache_size = -\(cacheKiB); PRAGMA cache_spill = \(spillPages)")
    }

    static func applyBusyTimeout(_ connection: Connection, _ timeout: Duration) {
        let milliseconds = max(0, min(Int64(Int32.max), timeout.totalNanoseconds / 1_000_000))
        sqlite3_busy_timeout(connection.handle, Int32(milliseconds))
    }

    /// Recognises the file without changing it.
    static func inspect(_ connection: Connection) throws(SpoolError) -> Kind {
        let version = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
        let applicationID = try connection.scalarInt("PRAGMA application_id") ?? 0
        let tables = try connection.scalarInt("SELECT count(*) FROM sqlite_master") ?? 0
        if applicationID != Migrations.applicationID {
            if tables == 0 && version == 0 { return .empty }
            let names = (try? names(of: connection)) ?? "?"
            throw SpoolError(.notASpool, "\(connection.path) is a SQLite database of another application (application_id \(applicationID), tables: \(names)); Spool will not touch it: give another path")
        }
        if version > Migrations.latestVersion {
            throw Migrations.newer(version, path: connection.path)
        }
        return version == 0 ? .empty : .spool(version: version)
    }

    private static func names(of connection: Connection) throws(SpoolError) -> String {
        let statement = try connection.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name LIMIT 6")
        var names: [String] = []
        while try statement.step() { names.append(statement.text(0) ?? "") }
        return names.joined(separator: ", ")
    }

    /// `PRAGMA quick_check` (or the slower `integrity_check` with `full`, which also checks
    /// that indexes match their tables): anything but "ok" is damage.
    static func verify(_ connection: Connection, full: Bool = false) throws(SpoolError) {
        let statement = try connection.prepare(full ? "PRAGMA integrity_check(5)" : "PRAGMA quick_check(5)")
        var problems: [String] = []
        while try statement.step() { problems.append(statement.text(0) ?? "") }
        if problems != ["ok"] {
            throw SpoolError(.corrupt, "\(connection.path) failed its integrity check: \(problems.joined(separator: "; "))")
        }
    }

    /// Says why the `-wal` beside `path` belongs to another database, or nil when it is ours
    /// (or when that cannot be told).
    ///
    /// SQLite checks a WAL's frames against the WAL's own header only: a WAL copied from another
    /// spool is replayed over this one, quick_check passes, the other spool's entries appear as
    /// ours, and the first checkpoint writes them into the file. Each spool holds a random
    /// `meta.spool_id` (migration 5); when the database file alone (read with `immutable`)
    /// already holds it, reading through the WAL must give the same. Read-only connections
    /// never checkpoint, so this changes nothing. A file whose id still lives only in its WAL
    /// (a new spool never checkpointed) cannot be told apart and passes.
    static func foreignWAL(_ path: String) -> String? {
        guard SpoolStore.fileSize(path + "-wal") > 0,
              let own = spoolID(try? Connection(path: path, create: false, immutable: true)),
              let seen = spoolID(try? Connection(path: path, create: false, readOnly: true)),
              own != seen
        else { return nil }
        return "the WAL beside \(path) belongs to another database (spool id \(seen) through the WAL, \(own) in the file): replayed, its pages would replace this spool's"
    }

    private static func spoolID(_ connection: Connection?) -> Int64? {
        try? connection?.scalarInt("SELECT value FROM meta WHERE key = 'spool_id'")
    }

    // MARK: - Files

    static func checkPath(_ path: String) throws(SpoolError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw SpoolError(.io, "\(path) is a directory: give the spool's file path, for example \(path)/app.spool")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let parent = directory.isEmpty ? "." : directory
        if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw SpoolError(.io, "cannot create the spool \(path): directory \(parent) does not exist")
        }
    }

    /// Creates an empty file with mode 0600, so the spool and its -wal and -shm files (which
    /// SQLite creates with the database's mode) are private to their owner.
    static func createIfMissing(_ path: String) throws(SpoolError) {
        let descriptor = Foundation.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return
        }
        let code = errno
        if code == EEXIST { return }
        throw SpoolError(.io, "cannot create the spool \(path): \(String(cString: strerror(code)))")
    }

    /// Moves `path` and its -wal and -shm files to `<path>.corrupt-<UTC time>`.
    static func moveAside(_ path: String, now: Int64) throws(SpoolError) -> String {
        let stamp = UnixTime.iso8601(nanoseconds: now)
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
            .replacingOccurrences(of: ".", with: "")
        var target = "\(path).corrupt-\(stamp)"
        var suffix = 1
        while FileManager.default.fileExists(atPath: target) {
            target = "\(path).corrupt-\(stamp)-\(suffix)"
            suffix += 1
        }
        guard rename(path, target) == 0 else {
            throw SpoolError(.io, "\(path) is damaged and could not be moved aside to \(target): \(String(cString: strerror(errno)))")
        }
        for extra in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + extra) {
            _ = rename(path + extra, target + extra)
        }
        return target
    }

    /// Removes a database file and its WAL and shared-memory files, where they exist.
    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    }
}
