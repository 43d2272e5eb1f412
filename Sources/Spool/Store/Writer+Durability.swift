import CSQLite

/// What a sink's progress needs to survive a power cut in committed and buffered modes, where
/// appends commit with `synchronous=NORMAL` (docs/reliability.md, "Power loss").
extension Writer {
    /// How an acknowledgement's commit gets synced (committed and buffered modes).
    enum AcknowledgementSync {
        /// Sync this file (the WAL as this connection holds it open) once the writer's lock is
        /// released: ``Writer/syncWAL(_:path:)``.
        case after(UnsafeMutablePointer<sqlite3_file>)
        /// Synced already, under the lock: this connection's first sync of its WAL.
        case done
        /// No WAL file open on this connection (never seen after a commit).
        case unavailable
    }

    /// How to sync the acknowledgement just committed, called under the writer's lock: a
    /// sink's acknowledgement is synced in every durability mode. Were it lost with a power cut
    /// (committed and buffered modes commit with `synchronous=NORMAL`), the position would
    /// move back: entries a destination already accepted would be sent again, and, once the
    /// entries they were were deleted and the deletion lost too, their ids given to new entries
    /// (found by tools/powercut, docs/reliability.md). One sync per acknowledged batch; it makes
    /// every earlier commit durable as well, and whatever other commits came in between.
    ///
    /// The sync runs after the lock is released, so appends go on meanwhile, on SQLite's own
    /// file for the WAL (so its VFS, tools/powercut's recorder included, sees it). That file is
    /// the connection's, used by other threads' commits at the same time; the unix VFS's sync
    /// is an `fdatasync` of its descriptor, except that a file's first sync also syncs the
    /// directory and clears a flag of the file (`UNIXFILE_DIRSYNC`, os_unix.c). So the
    /// connection's first sync of its WAL is made here, under the lock (``walSynced``), and
    /// only later ones outside it. The pointer stays valid while the connection is open
    /// (SQLite opens the WAL's file with the first read transaction and closes it with the
    /// connection), and the store closes its connections only when it is released, never
    /// during a call on it.
    func acknowledgementSync() throws(SpoolError) -> AcknowledgementSync {
        var pointer: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(connection.handle, "main", SQLITE_FCNTL_JOURNAL_POINTER, &pointer) == SQLITE_OK,
              let file = pointer, file.pointee.pMethods?.pointee.xSync != nil
        else { return .unavailable }
        guard walSynced else {
            try Self.syncWAL(file, path: connection.path)
            walSynced = true
            return .done
        }
        return .after(file)
    }

    /// Syncs the WAL through SQLite's own file.
    /// - Throws: ``SpoolError`` `.io` with SQLite's result code when the sync fails.
    static func syncWAL(_ file: UnsafeMutablePointer<sqlite3_file>, path: String) throws(SpoolError) {
        guard let sync = file.pointee.pMethods?.pointee.xSync else { return }
        let rc = sync(file, SQLITE_SYNC_NORMAL)
        guard rc == SQLITE_OK else {
            throw SpoolError(.io, "cannot sync the WAL of \(path) after an acknowledgement (SQLite result \(rc)): the file system may be failing", sqliteCode: rc)
        }
    }

    /// Committed and buffered modes: syncs the WAL before a claim hands out entries up to
    /// `id`. An entry sent and then lost with a power cut would leave the destination holding
    /// it while its id went to a new entry (found by tools/powercut). The caller asks only for
    /// entries not synced yet (``SpoolStore/durableForClaims``); nothing in fsync mode.
    /// - Returns: the id through which entries are now synced (at least `id`), or nil when
    ///   nothing was synced (fsync mode; no WAL open on this connection yet).
    func syncForClaim(through id: Int64) throws(SpoolError) -> Int64? {
        guard !syncsEveryCommit else { return nil }
        // Everything committed before the sync is durable after it, not only this batch: a
        // backlog drained batch after batch costs one sync, not one per batch. No commit can
        // come between (this runs under the writer's lock; another process's commits after
        // this read are simply not counted).
        let newest = (try? connection.scalarInt("SELECT max(id) FROM entries")) ?? nil
        var pointer: UnsafeMutablePointer<sqlite3_file>?
        // No WAL file open on this connection (it has not written yet): nothing is marked
        // durable, so the next claim tries again rather than trusting an unsynced WAL.
        guard sqlite3_file_control(connection.handle, "main", SQLITE_FCNTL_JOURNAL_POINTER, &pointer) == SQLITE_OK,
              let file = pointer, let sync = file.pointee.pMethods?.pointee.xSync
        else { return nil }
        let rc = sync(file, SQLITE_SYNC_NORMAL)
        guard rc == SQLITE_OK else { throw SQLiteFailure.error(rc, "cannot sync the WAL before a claim", connection: connection) }
        walSynced = true
        return max(id, newest ?? id)
    }
}
