import CSQLite

/// What a sink's progress needs to survive a power cut in committed and buffered modes, where
/// appends commit with `synchronous=NORMAL` (docs/reliability.md, "Power loss").
extension Writer {
    /// Like ``transaction(_:)``, but its commit is synced in every durability mode: a sink's
    /// acknowledgement. Were it lost with a power cut (committed and buffered modes commit
    /// with `synchronous=NORMAL`), the position would move back: entries a destination already
    /// accepted would be sent again, and, once the entries they were were deleted and the
    /// deletion lost too, their ids given to new entries (found by tools/powercut,
    /// docs/reliability.md). One sync per acknowledged batch; it makes every earlier commit
    /// durable as well.
    func durableTransaction<R>(_ body: () throws(SpoolError) -> R) throws(SpoolError) -> R {
        guard !syncsEveryCommit else { return try transaction(body) }
        try connection.execute("PRAGMA synchronous = FULL")
        defer { try? connection.execute("PRAGMA synchronous = NORMAL") }
        return try transaction(body)
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
        return max(id, newest ?? id)
    }
}
