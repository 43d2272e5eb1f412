import CSQLite
import Foundation

/// Opening a spool file: path checks, creation with mode 0600, recognising a spool, a foreign
/// database or a damaged file, setting a damaged one aside, and migrating.
package enum SpoolFile {
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
    ///
    /// A damaged file is set aside only when it is recognisably a spool (``recognised(_:)``)
    /// and nobody else uses it (``setAside(_:now:doing:)``); any other file is refused with
    /// `.notASpool` and left exactly as it was.
    static func openWriter(path: String, configuration: SpoolStore.Configuration, now: Int64) throws(SpoolError) -> (Connection, Recovery?) {
        try checkPath(path)
        do {
            return (try open(path: path, configuration: configuration), nil)
        } catch where error.code == .corrupt {
            guard recognised(path) else { throw notRecognised(path, error) }
            guard configuration.recoverCorruptFile else { throw error }
            let movedTo = try setAside(path, now: now, doing: "setting it aside")
            let connection = try open(path: path, configuration: configuration)
            return (connection, Recovery(movedTo: movedTo, reason: error.message))
        }
    }

    /// Opens an existing spool to change it outside a store (`compact`, `migrate`): never
    /// created, recognised and verified (`quick_check`) before anything is written, a foreign
    /// WAL refused before any read-write connection, and, until verified, closing the
    /// connection never writes the WAL into the file. A damaged file is refused, not set aside.
    static func openExistingForMaintenance(_ path: String, doing: String, busyTimeout: Duration) throws(SpoolError) -> (Connection, Kind) {
        // Nothing is created here: a missing file (or directory above it) is "no spool", not a
        // path a spool could not be created at.
        guard path.isEmpty || FileManager.default.fileExists(atPath: path) else {
            throw SpoolError(.io, "no spool at \(path): the file does not exist (nothing was created)")
        }
        try checkPath(path)
        do throws(SpoolError) {
            if let foreign = foreignWAL(path) { throw SpoolError(.corrupt, foreign) }
            let connection = try Connection(path: path, create: false)
            applyBusyTimeout(connection, busyTimeout)
            spool_sqlite_no_checkpoint_on_close(connection.handle, 1)
            let kind = try inspect(connection)
            try verify(connection)
            spool_sqlite_no_checkpoint_on_close(connection.handle, 0)
            return (connection, kind)
        } catch where error.code == .corrupt {
            guard recognised(path) else { throw notRecognised(path, error) }
            throw SpoolError(.corrupt, "\(error.message); nothing was \(doing): run `spool check --repair --spool \(path)`", sqliteCode: error.sqliteCode)
        }
    }

    private static func open(path: String, configuration: SpoolStore.Configuration) throws(SpoolError) -> Connection {
        try createIfMissing(path)
        // Before any read-write connection: closing one would checkpoint a foreign WAL into the file.
        if let foreign = foreignWAL(path) { throw SpoolError(.corrupt, foreign) }
        let connection = try Connection(path: path, create: false)
        applyBusyTimeout(connection, configuration.busyTimeout)
        try applyCacheSize(connection, kib: writerCacheKiB)
        // Until the file is recognised and verified, closing this connection must not write the
        // WAL into it: a damaged file is set aside exactly as it was found.
        spool_sqlite_no_checkpoint_on_close(connection.handle, 1)
        let kind = try inspect(connection)
        if configuration.verifyOnOpen { try verify(connection) }
        spool_sqlite_no_checkpoint_on_close(connection.handle, 0)
        // Only now, with the file recognised, change anything.
        if case .empty = kind { makePrivate(path) }
        let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw SpoolError(.io, "\(path): cannot switch to WAL mode (got \(mode ?? "nothing")); a spool needs a local file system that supports shared memory")
        }
        switch configuration.durability {
        case .fsync: try connection.execute("PRAGMA synchronous = FULL")
        case .committed, .buffered: try connection.execute("PRAGMA synchronous = NORMAL")
        }
        try applyFullSync(connection, configuration.durability)
        // Checkpoints run on a background connection, never on the append path.
        try connection.execute("PRAGMA wal_autocheckpoint = 0")
        // A reset WAL is truncated back to this size, so an outage's peak does not stay on disk.
        try connection.execute("PRAGMA journal_size_limit = \(64 << 20)")
        // Delivered entries' bytes are zeroed where the page is written anyway, not in pages an
        // acknowledgement frees. SQLite's own default (OFF) zeroes nothing; Debian and many other
        // distributions build it with ON, which writes every freed page once more: 24,000 of 58,600
        // writes in a drain of 200,000 entries, 7 % of its CPU (BENCHMARKS.md, "Session 10"). The
        // writer's connection, which every deletion of entries goes through, behaves the same on
        // every platform; what it leaves on disk: docs/architecture.md, section 2.
        try connection.execute("PRAGMA secure_delete = FAST")
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
    /// The writer's page cache, in KiB. An acknowledgement deletes from the table's start, and
    /// SQLite's rebalancing of each leaf it empties reads the leaves after it, which the next
    /// acknowledgement deletes: with ``cacheKiB`` they were gone by then and read again (the
    /// writer read each leaf twice in a drain, ~5,600 extra `pread`s per 50,000 entries). 1 MiB
    /// keeps them: 3 % less CPU in a 1M drain, 0.75 MiB more resident at most
    /// (BENCHMARKS.md, "Session 12").
    static let writerCacheKiB = 1024
    /// Pages a write transaction may hold before SQLite spills dirty pages to the WAL in its
    /// middle: SQLite's default cache (2000 KiB of 4 KiB pages), so large transactions (a
    /// buffered commit writes ~2.7 MB) behave as before: the cache grows while one runs and
    /// shrinks back to ``cacheKiB`` when it ends. A 256 KiB spill threshold made buffered
    /// appends 8–12 % slower.
    static let spillPages = 500

    static func applyCacheSize(_ connection: Connection, kib: Int = cacheKiB) throws(SpoolError) {
        try connection.execute("PRAGMA cache_size = -\(kib); PRAGMA cache_spill = \(spillPages)")
    }

    /// Apple platforms: `fsync` leaves what it wrote in the drive's cache, where a power cut can
    /// lose it or write it out of order; only `fcntl(F_FULLFSYNC)` flushes the cache. So fsync
    /// mode asks SQLite for it on every connection that syncs: `fullfsync` for commits,
    /// `checkpoint_fullfsync` for checkpoints. Elsewhere `fsync` already flushes the cache.
    static func applyFullSync(_ connection: Connection, _ durability: SpoolStore.Durability) throws(SpoolError) {
        #if canImport(Darwin)
        if case .fsync = durability { try connection.execute("PRAGMA fullfsync = ON; PRAGMA checkpoint_fullfsync = ON") }
        #endif
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

    /// ``inspect(_:)`` for the reading commands: a file that is not a database and not
    /// recognisably a spool is `notASpool`, as at open, not `corrupt`.
    static func inspectForReading(_ connection: Connection) throws(SpoolError) -> Kind {
        do {
            return try inspect(connection)
        } catch where error.code == .corrupt {
            guard recognised(connection.path) else { throw notRecognised(connection.path, error) }
            throw error
        }
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
        // A problem may span lines ("*** in database main ***" then the page): one line each,
        // so the error stays one line.
        while try statement.step() { problems.append((statement.text(0) ?? "").split(whereSeparator: \.isNewline).joined(separator: " ")) }
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
        guard !path.isEmpty else { throw SpoolError(.io, "the spool's path is empty: give a file path, for example app.spool") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw SpoolError(.io, "\(path) is a directory: give the spool's file path, for example \(path)/app.spool")
        }
        let parent = parentDirectory(of: path)
        if !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw SpoolError(.io, "cannot create the spool \(path): directory \(parent) does not exist")
        }
        try checkNotBesideASpool(path)
    }

    /// Refuses `app.spool-wal`, `-shm` or `-journal` beside an existing `app.spool` (tab
    /// completion stops there), naming the spool's own path: SQLite would take an empty WAL for
    /// a new database, and the spool's next open would replace it, entries and all; a reading
    /// command would call it "no spool yet" or "not a spool" without saying which file was meant.
    static func checkNotBesideASpool(_ path: String) throws(SpoolError) {
        for (suffix, what) in [("-wal", "write-ahead log"), ("-shm", "shared-memory index"), ("-journal", "rollback journal")]
        where path.hasSuffix(suffix) {
            let owner = String(path.dropLast(suffix.count))
            var isDirectory: ObjCBool = false
            if !owner.isEmpty && FileManager.default.fileExists(atPath: owner, isDirectory: &isDirectory) && !isDirectory.boolValue {
                throw SpoolError(.io, "\(path) is the \(what) SQLite keeps beside \(owner), not a spool: give the spool's own path, \(owner) (nothing was changed)")
            }
        }
    }

    /// The directory holding `path`: "." for a bare name. (Not `NSString.deletingLastPathComponent`,
    /// which traps on a one-character relative path in swift-corelibs-foundation.)
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = path[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    // MARK: - Damaged files: recognising, setting aside

    /// Whether `path` is recognisably a spool: Spool's application id (`SPOL`) in the database
    /// header, or in the newest copy of page 1 in its `-wal` (where the header of a file whose
    /// own first page was damaged may still be), or a `meta.spool_id` SQLite can still read.
    /// Only such a file is ever moved aside.
    ///
    /// Reading changes nothing: the database file is read through a connection in SQLite's
    /// `immutable` mode (no locks, no WAL; its header with the file's own read method, so a
    /// truncated or damaged file is read as it is), the WAL with plain reads. The database
    /// file is never opened and closed outside SQLite: closing a descriptor of a file drops
    /// every POSIX lock this process holds on it, SQLite's too (see ``ExclusiveUse``).
    static func recognised(_ path: String) -> Bool {
        if OpenSpools.isOpenInThisProcess(path) { return true }
        guard let file = try? Connection(path: path, create: false, immutable: true) else { return false }
        if let header = header(of: file), header.starts(with: Array("SQLite format 3\0".utf8)),
           Array(header[68..<72]) == Array("SPOL".utf8) {
            return true
        }
        if walPageOneApplicationID(path + "-wal") == Array("SPOL".utf8) { return true }
        // A truncated file's header claims more pages than it has: SQLite reads it only so.
        try? file.execute("PRAGMA writable_schema = ON")
        return spoolID(file) != nil
    }

    /// The database file's first 100 bytes, read through the connection's own file handle.
    private static func header(of connection: Connection) -> [UInt8]? {
        var pointer: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(connection.handle, "main", SQLITE_FCNTL_FILE_POINTER, &pointer) == SQLITE_OK,
              let file = pointer, let read = file.pointee.pMethods?.pointee.xRead
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: 100)
        let rc = bytes.withUnsafeMutableBytes { read(file, $0.baseAddress, 100, 0) }
        return rc == SQLITE_OK ? bytes : nil
    }

    /// The application id in the last copy of page 1 in a WAL file, if it holds one.
    static func walPageOneApplicationID(_ wal: String) -> [UInt8]? {
        // The WAL carries no POSIX locks of SQLite's, so a descriptor of our own is harmless.
        let descriptor = Foundation.open(wal, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        func readBytes(at offset: Int64, count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, off_t(offset)) }
            return read == count ? bytes : nil
        }
        guard let header = readBytes(at: 0, count: 32) else { return nil }
        let magic = header[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard magic == 0x377F_0682 || magic == 0x377F_0683 else { return nil }
        let pageSize = Int64(header[8..<12].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        guard pageSize >= 512, pageSize <= 65536 else { return nil }
        let frameSize = 24 + pageSize
        let size = SpoolStore.fileSize(wal)
        var found: [UInt8]?
        var offset: Int64 = 32
        while offset + frameSize <= size {
            if let frame = readBytes(at: offset, count: 4), frame == [0, 0, 0, 1],
               let id = readBytes(at: offset + 24 + 68, count: 4) {
                found = id
            }
            offset += frameSize
        }
        return found
    }

    static func notRecognised(_ path: String, _ error: SpoolError) -> SpoolError {
        SpoolError(.notASpool, "\(path) is not a spool (no Spool application id or spool id in it; SQLite says: \(error.message)); Spool will not touch it: give another path", sqliteCode: error.sqliteCode)
    }

    /// Moves a damaged spool aside (``moveAside(_:now:)``) once nobody uses it: no forwarder
    /// holds a live lease on one of its sinks (read from the file where it still can be), and
    /// no other process has it open (``ExclusiveUse``, held through the move).
    /// - Throws: `.leaseHeld` or `.inUse` naming the holder; nothing is moved then.
    static func setAside(_ path: String, now: Int64, doing: String) throws(SpoolError) -> String {
        try refuseLiveLease(path, now: now, doing: doing)
        let exclusive = try ExclusiveUse.take(path, doing: doing)
        defer { exclusive.release() }
        return try moveAside(path, now: now)
    }

    /// Throws `.leaseHeld` when a sink of the spool at `path` has a lease that has not expired
    /// and whose holder is not provably gone (``LeaseOwner``). Reads through the WAL where it
    /// can, else the file alone; a file whose `sinks` cannot be read passes.
    static func refuseLiveLease(_ path: String, now: Int64, doing: String) throws(SpoolError) {
        let through = foreignWAL(path) == nil ? try? Connection(path: path, create: false, readOnly: true) : nil
        let leases = liveLeases(through, now: now) ?? liveLeases(try? Connection(path: path, create: false, immutable: true), now: now) ?? []
        guard let (sink, owner, until) = leases.first(where: { !LeaseOwner.isProvablyGone($0.owner) }) else { return }
        throw SpoolError(.leaseHeld, "sink '\(sink)' of \(path) is being forwarded by \(owner) until \(UnixTime.iso8601(nanoseconds: until)) (its lease): stop it before \(doing); nothing was changed")
    }

    private static func liveLeases(_ connection: Connection?, now: Int64) -> [(sink: String, owner: String, until: Int64)]? {
        guard let connection, let statement = try? connection.prepare(
            "SELECT name, lease_owner, lease_expires_ns FROM sinks WHERE lease_owner IS NOT NULL AND lease_expires_ns > ? ORDER BY name")
        else { return nil }
        statement.bind(1, now)
        var leases: [(sink: String, owner: String, until: Int64)] = []
        do throws(SpoolError) {
            while try statement.step() { leases.append((statement.text(0) ?? "?", statement.text(1) ?? "?", statement.int64(2))) }
        } catch {
            return nil
        }
        return leases
    }

    /// Creates an empty file with mode 0600, so the spool and its -wal and -shm files (which
    /// SQLite creates with the database's mode) are private to their owner.
    static func createIfMissing(_ path: String) throws(SpoolError) {
        let code = DirectoryChanges.createIfMissing(path, mode: 0o600)
        guard code == 0 else { throw SpoolError(.io, "cannot create the spool \(path): \(String(cString: strerror(code)))") }
    }

    /// Gives an empty file of this user's, about to become a spool, mode 0600, as if Spool had
    /// created it: one made by `touch` (0644, or 0666 under umask 000) would otherwise hold log
    /// entries readable by every user, and SQLite creates the -wal and -shm files with the
    /// database's mode. A file of another user's (which this process may write but not chmod)
    /// is left as it is rather than refused, so the app can still log; a spool that already
    /// holds data keeps the mode its owner gave it (to share one with a group, chmod it after
    /// Spool has created it).
    static func makePrivate(_ path: String) {
        var status = stat()
        guard stat(path, &status) == 0, status.st_uid == geteuid(), status.st_mode & 0o777 != 0o600 else { return }
        _ = chmod(path, 0o600)
    }

    /// Moves `path` and its -wal and -shm files to `<path>.corrupt-<UTC time>`.
    ///
    /// The directory is not synced here: the fresh spool opened next creates its WAL, and SQLite
    /// syncs the directory at the WAL's first sync (in `fsync` mode before the first append
    /// returns), with this rename in it. A cut before that may undo the move; the damaged file
    /// is then found again and set aside again.
    static func moveAside(_ path: String, now: Int64) throws(SpoolError) -> String {
        let target = asideName(path, now: now)
        let code = DirectoryChanges.rename(path, target)
        guard code == 0 else {
            throw SpoolError(.io, "\(path) is damaged and could not be moved aside to \(target): \(String(cString: strerror(code)))")
        }
        for extra in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + extra) {
            DirectoryChanges.rename(path + extra, target + extra)
        }
        return target
    }

    /// `<path>.corrupt-<UTC time>`, with a number added when that exists.
    static func asideName(_ path: String, now: Int64) -> String {
        let stamp = UnixTime.iso8601(nanoseconds: now)
            .replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
            .replacingOccurrences(of: ".", with: "")
        var target = "\(path).corrupt-\(stamp)"
        var suffix = 1
        while FileManager.default.fileExists(atPath: target) {
            target = "\(path).corrupt-\(stamp)-\(suffix)"
            suffix += 1
        }
        return target
    }

    /// Removes a database file and its WAL and shared-memory files, where they exist.
    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { DirectoryChanges.remove(path + suffix) }
    }
}
