import CSQLite

/// A batch claimed for one sink: entries in id order after the sink's position (or after the
/// caller's in-memory cursor when several batches are in flight).
package struct ClaimedBatch: Sendable {
    /// The sink the batch was claimed for.
    package var sink: String
    /// The entries, in id order; empty when nothing is pending.
    package var entries: [StoredEntry]
    /// The highest id in the batch, or the position it was claimed after when empty.
    package var lastID: Int64
}

/// An entry a destination rejected for good, with what it said.
package struct DeadLetter: Sendable, Hashable {
    /// The spool id of the rejected entry.
    package var entryID: Int64
    /// The HTTP status, or nil when the failure was not an HTTP response.
    package var status: Int?
    /// Why: a bounded excerpt of the response.
    package var reason: String
    /// How many times it was sent.
    package var attempts: Int

    /// Reasons are excerpts; longer ones are cut to this many bytes.
    package static let maximumReasonBytes = 2048

    package init(entryID: Int64, status: Int?, reason: String, attempts: Int) {
        self.entryID = entryID
        self.status = status
        self.reason = PreparedRow.truncated(reason, to: Self.maximumReasonBytes)
        self.attempts = attempts
    }
}

extension SpoolStore {
    // MARK: - Registering

    /// Registers a sink, if it is not registered yet. A new sink starts from the oldest entry
    /// still in the spool (or after the newest ever deleted, when the spool is empty).
    package func registerSink(_ name: String) throws(SpoolError) {
        guard !name.isEmpty, name.utf8.count <= 200 else {
            throw SpoolError(.invalidArgument, "a sink name is 1 to 200 bytes long")
        }
        let created = now
        try writer.withLock { writer throws(SpoolError) in
            try writer.transaction { () throws(SpoolError) in
                // Registered already (every `spool forward` registers its sinks): nothing to
                // count. The count below reads every entry, a whole backlog after an outage.
                let known = try writer.connection.prepare("SELECT 1 FROM sinks WHERE name = ?")
                known.bind(1, name)
                guard try !known.step() else { return }
                known.reset()
                // Its books start at its position: entries stored from there on, less those
                // addressed to other sinks, are accepted for it.
                let statement = try writer.connection.prepare("""
                    INSERT OR IGNORE INTO sinks (name, position, created_ns, counted_from, skipped)
                    SELECT ?1, start, ?2, start,
                           (SELECT count(*) FROM entries WHERE id > start AND only_sink IS NOT NULL AND only_sink != ?1)
                    FROM (SELECT COALESCE((SELECT min(id) FROM entries) - 1,
                                          (SELECT value FROM meta WHERE key = 'id_floor'), 0) AS start)
                    """)
                statement.bind(1, name)
                statement.bind(2, created)
                try statement.run()
            }
        }
    }

    /// Removes a sink: it no longer holds entries back. Entries every remaining sink has passed
    /// are deleted; with no sink left, entries stay until a sink is registered.
    /// - Returns: whether a sink of that name existed.
    @discardableResult
    package func removeSink(_ name: String) throws(SpoolError) -> Bool {
        let removed = try writer.withLock { writer throws(SpoolError) -> Bool in
            try writer.transaction { () throws(SpoolError) -> Bool in
                let statement = try writer.connection.prepare("DELETE FROM sinks WHERE name = ?")
                statement.bind(1, name)
                try statement.run()
                let removed = writer.connection.changes > 0
                let latency = try writer.connection.prepare("DELETE FROM delivery_latency WHERE sink = ?")
                latency.bind(1, name)
                try latency.run()
                try writer.deletePassedEntries()
                return removed
            }
        }
        _ = leases.withLock { $0.removeValue(forKey: name) }
        return removed
    }

    /// The names of the registered sinks, sorted.
    package func sinkNames() throws(SpoolError) -> [String] {
        try reader.withLock { reader throws(SpoolError) -> [String] in
            let statement = try reader.connection.prepare("SELECT name FROM sinks ORDER BY name")
            var names: [String] = []
            while try statement.step() { names.append(statement.text(0) ?? "") }
            return names
        }
    }

    // MARK: - Leases

    /// Takes or renews the sink's lease for `owner` until now + `duration`.
    ///
    /// An unexpired lease of another owner is taken over at once only when that owner is a
    /// process of this host that provably no longer runs (an owner made by
    /// ``LeaseOwner/thisProcess(_:)``, whose pid is gone or reused); that is reported as
    /// `spool.forward.lease_taken_over`.
    /// - Throws: `.leaseHeld` naming the holder and its expiry when another owner holds an
    ///   unexpired lease; `.unknownSink`.
    package func acquireLease(sink: String, owner: String, duration: Duration) throws(SpoolError) {
        try extendLease(sink: sink, owner: owner, duration: duration, takingOver: true)
    }

    /// Renews the lease `owner` holds on the sink until now + `duration`; unlike
    /// ``acquireLease(sink:owner:duration:)`` it never takes the lease from anyone. A lease that
    /// lapsed is renewed as long as nobody took it meanwhile: nobody else sent anything.
    /// - Throws: `.notLeaseHolder` naming the holder when the lease was taken by another owner
    ///   (or released) since `owner` had it; `.unknownSink`.
    package func renewLease(sink: String, owner: String, duration: Duration) throws(SpoolError) {
        try extendLease(sink: sink, owner: owner, duration: duration, takingOver: false)
    }

    /// Sets `owner`'s lease to now + `duration`: taking it over from another owner whose lease
    /// expired when `takingOver`, else only if `owner` is still the holder. A lease of `owner`
    /// with more than half its duration left is not written again: nobody can take it.
    private func extendLease(sink: String, owner: String, duration: Duration, takingOver: Bool) throws(SpoolError) {
        let now = self.now
        let expires = now &+ duration.totalNanoseconds
        if let held = leases.withLock({ $0[sink] }), held.owner == owner, held.expires - now > duration.totalNanoseconds / 2 {
            return
        }
        var takenFrom: String?
        do throws(SpoolError) {
            try writer.withLock { writer throws(SpoolError) in
                try writer.transaction { () throws(SpoolError) in
                    let read = try writer.connection.prepare("SELECT lease_owner, lease_expires_ns FROM sinks WHERE name = ?")
                    read.bind(1, sink)
                    guard try read.step() else { throw unknownSink(sink) }
                    let holder = read.text(0)
                    if takingOver, let holder, holder != owner, let until = read.optionalInt64(1), until > now {
                        // A holder on this host that provably no longer runs is taken over at once.
                        guard LeaseOwner.isProvablyGone(holder) else {
                            throw SpoolError(.leaseHeld, "sink '\(sink)' is being forwarded by \(holder) until \(UnixTime.iso8601(nanoseconds: until)) (its lease); wait for it to finish or expire")
                        }
                        takenFrom = holder
                    }
                    if !takingOver && holder != owner {
                        throw SpoolError(.notLeaseHolder, "sink '\(sink)': \(owner) lost its lease (holder now: \(holder ?? "none")); it must not send or acknowledge anything more")
                    }
                    read.reset()
                    let update = try writer.connection.prepare("UPDATE sinks SET lease_owner = ?, lease_expires_ns = ? WHERE name = ?")
                    update.bind(1, owner)
                    update.bind(2, expires)
                    update.bind(3, sink)
                    try update.run()
                }
            }
        } catch {
            if error.code == .notLeaseHolder { _ = leases.withLock { $0.removeValue(forKey: sink) } }
            throw error
        }
        leases.withLock { $0[sink] = LeaseRecord(owner: owner, expires: expires) }
        if let takenFrom {
            reporter(LogEntry(
                timestamp: now, level: .warning, topic: "spool.forward.lease_taken_over",
                message: "sink '\(sink)': took the lease of \(takenFrom) before it expired: that process no longer runs on this host",
                context: ["sink": .string(sink), "owner": .string(owner), "previous_owner": .string(takenFrom), "path": .string(path)]))
        }
    }

    /// Gives the lease up, so another forwarder can take the sink at once.
    package func releaseLease(sink: String, owner: String) throws(SpoolError) {
        _ = leases.withLock { $0.removeValue(forKey: sink) }
        try writer.withLock { writer throws(SpoolError) in
            let statement = try writer.connection.prepare(
                "UPDATE sinks SET lease_owner = NULL, lease_expires_ns = NULL WHERE name = ? AND lease_owner = ?")
            statement.bind(1, sink)
            statement.bind(2, owner)
            try statement.run()
        }
    }

    // MARK: - Claiming and acknowledging

    /// The sink's delivery position: every entry with an id at or below it was delivered or
    /// dead-lettered for this sink.
    package func position(of sink: String) throws(SpoolError) -> Int64 {
        try reader.withLock { reader throws(SpoolError) -> Int64 in
            let statement = try reader.connection.prepare("SELECT position FROM sinks WHERE name = ?")
            statement.bind(1, sink)
            guard try statement.step() else { throw unknownSink(sink) }
            return statement.int64(0)
        }
    }

    /// Claims the next batch for `sink` under `owner`'s lease (taken or renewed as needed):
    /// entries after `cursor` (default: the sink's position), in id order, bounded by count and
    /// bytes (at least one entry when any is pending). In committed and buffered modes the WAL
    /// is synced first, so nothing handed out can vanish with a power cut; with `syncing`
    /// false the caller must call ``makeDurable(through:)`` before it sends any of them.
    package func claim(
        sink: String, owner: String, lease: Duration = .seconds(30),
        after cursor: Int64? = nil, maxCount: Int = 1000, maxBytes: Int = 1 << 20, syncing: Bool = true
    ) throws(SpoolError) -> ClaimedBatch {
        try checkSyncFailure()
        try acquireLease(sink: sink, owner: owner, duration: lease)
        let start: Int64
        if let cursor { start = cursor } else { start = try position(of: sink) }
        let entries = try reader.withLock { reader throws(SpoolError) -> [StoredEntry] in
            try reader.entries(for: sink, after: start, maxCount: max(1, maxCount), maxBytes: max(1, maxBytes))
        }
        if syncing, let last = entries.last?.id { try makeDurable(through: last) }
        CrashPoint.reached("store.claim")
        return ClaimedBatch(sink: sink, entries: entries, lastID: entries.last?.id ?? start)
    }

    /// Whether entries up to `id` are known to be on disk: no ``makeDurable(through:)`` needed.
    package func isDurable(through id: Int64) -> Bool {
        guard walSyncFailure.withLock({ $0 }) == nil else { return false }
        return isFsyncMode || id <= durableForClaims.load(ordering: .acquiring)
    }

    /// Syncs the WAL unless entries up to `id` are known to be on disk already (fsync mode, an
    /// earlier claim's sync, an acknowledgement's sync), so nothing sent can vanish
    /// with a power cut.
    package func makeDurable(through id: Int64) throws(SpoolError) {
        try checkSyncFailure()
        guard !isDurable(through: id) else { return }
        try writer.withLock { writer throws(SpoolError) in
            // Another claim may have synced them while this one waited for the writer.
            guard !isDurable(through: id), let synced = try writer.syncForClaim(through: id) else { return }
            durableForClaims.max(synced, ordering: .releasing)
        }
    }

    /// Records the destination's verdict on everything up to `through` for `sink`: the position
    /// advances to `through`; `deadLetters` are copied into `dead_letters` with their reasons
    /// (and so count as passed); entries every sink has passed are deleted. All in one
    /// transaction, so a crash leaves either all of it or none. Its commit is synced in every
    /// durability mode, so a position never moves back, not even after a power loss.
    ///
    /// The sink's books are counted from the rows the position passes, not from the caller's
    /// figures: every entry of the sink in `(position, through]` still stored is delivered,
    /// unless it is one of `deadLetters` or among the `droppedByDestination` (entries dropped
    /// at the size bound meanwhile were counted as dropped then). Each passed entry's delivery
    /// latency (now minus its commit time) goes into the sink's persisted histogram.
    ///
    /// - Parameters:
    ///   - delivered: how many entries the destination accepted (what the caller counted; the
    ///     books count from the rows).
    ///   - droppedByDestination: entries the destination accepted the request for but said it
    ///     dropped (OTLP `partialSuccess`), recorded in `drops` with `dropReason`, in the same
    ///     transaction. Default 0.
    /// - Returns: what the books recorded, with the latency samples.
    /// - Throws: `.notLeaseHolder` if `owner` no longer holds the lease (then nothing changes);
    ///   `.io` if the sync after the commit fails: the acknowledgement is recorded but not
    ///   known to be on disk, and this store refuses every later claim, sync and
    ///   acknowledgement with the same error until the spool is opened again.
    @discardableResult
    package func acknowledge(
        sink: String, owner: String, through: Int64, delivered: Int, deadLetters: [DeadLetter] = [],
        droppedByDestination: Int = 0, dropReason: String? = nil
    ) throws(SpoolError) -> Acknowledgement {
        let now = self.now
        // Without `run()`, the checkpoint this commit asked for, once the writer is free.
        defer { checkpointIfDue() }
        try checkSyncFailure()
        // The commit is synced after the writer's lock is released (`Writer.acknowledgementSync`):
        // appends go on meanwhile instead of waiting for the disk (in `spool forward --stdin` of
        // a million lines, the writer's lock was held 86 % of the run, and the acknowledgements'
        // ~500 commits took 0.7–0.8 s less of it without their syncs: BENCHMARKS.md, "Session
        // 14"). The call returns only after the sync, so nothing sent after it depends on an
        // acknowledgement a power cut could undo.
        var newest: Int64?
        var sync = Writer.AcknowledgementSync.done
        let acknowledgement = try writer.withLock { writer throws(SpoolError) -> Acknowledgement in
            var moved = false
            let acknowledgement = try writer.transaction { () throws(SpoolError) -> Acknowledgement in
                let connection = writer.connection
                let check = try connection.prepare("SELECT lease_owner, position FROM sinks WHERE name = ?")
                check.bind(1, sink)
                guard try check.step() else { throw unknownSink(sink) }
                let holder = check.text(0)
                let position = check.int64(1)
                check.reset()
                if holder != owner {
                    throw SpoolError(.notLeaseHolder, "sink '\(sink)': \(owner) no longer holds the lease (holder: \(holder ?? "none")); its acknowledgement was not recorded and the entries will be sent again")
                }
                var copied: [Int64] = []
                if !deadLetters.isEmpty {
                    // Only entries this acknowledgement passes (and still stored): the books
                    // count each entry once.
                    let copy = try connection.prepare("""
                        INSERT INTO dead_letters (sink, entry_id, ts_ns, level, topic, message, context, schema, status, reason, attempts, failed_ns)
                        SELECT ?, id, ts_ns, level, topic, message, context, schema, ?, ?, ?, ? FROM entries WHERE id = ? AND id > ? AND id <= ?
                        """)
                    for letter in deadLetters {
                        copy.bind(1, sink)
                        copy.bind(2, letter.status.map(Int64.init))
                        copy.bind(3, letter.reason)
                        copy.bind(4, Int64(letter.attempts))
                        copy.bind(5, now)
                        copy.bind(6, letter.entryID)
                        copy.bind(7, position)
                        copy.bind(8, through)
                        try copy.run()
                        if connection.changes > 0 { copied.append(letter.entryID) }
                    }
                }
                var result = try writer.settle(
                    sink: sink, position: position, through: through, deadLettered: copied.count,
                    droppedByDestination: droppedByDestination, now: now)
                result.deadLetterIDs = copied
                if droppedByDestination > 0 {
                    // Which entries of the batch were dropped the destination does not say: no ids.
                    let drop = try connection.prepare("INSERT INTO drops (at_ns, reason, count, first_id, last_id, bytes) VALUES (?, ?, ?, NULL, NULL, 0)")
                    drop.bind(1, now)
                    drop.bind(2, "rejected_by_destination:\(sink)" + (dropReason.map { ": \($0.prefix(200))" } ?? ""))
                    drop.bind(3, Int64(droppedByDestination))
                    try drop.run()
                }
                try writer.deletePassedEntries()
                // Only a commit that writes needs a sync: one that moves the position always does
                // (and may have deleted every entry: then there is no newest).
                if through > position {
                    moved = true
                    newest = try connection.scalarInt("SELECT max(id) FROM entries")
                }
                return result
            }
            // In fsync mode the commit was synced; a commit that moved nothing wrote nothing.
            if moved && !writer.syncsEveryCommit {
                do throws(SpoolError) { sync = try writer.acknowledgementSync() } catch { throw syncFailed(error) }
            }
            return acknowledgement
        }
        switch sync {
        case .done: break
        case .after(let wal):
            do throws(SpoolError) { try Writer.syncWAL(wal, path: path) } catch { throw syncFailed(error) }
        case .unavailable:
            let synced: Int64?
            do throws(SpoolError) {
                synced = try writer.withLock { writer throws(SpoolError) in try writer.syncForClaim(through: newest ?? through) }
            } catch { throw syncFailed(error) }
            if synced == nil { throw syncFailed(SpoolError(.io, "cannot sync the WAL of \(path) after an acknowledgement: the connection has no WAL open")) }
        }
        // Every entry committed before the sync is on disk, so a claim of them needs no sync
        // of its own (entries appended while the batch was out).
        if let newest, !isFsyncMode { durableForClaims.max(newest, ordering: .releasing) }
        return acknowledgement
    }

    /// A sync that failed after the commit leaves the acknowledgement visible but not known to
    /// be on disk, and a later sync cannot be trusted to cover it: Linux reports a failed
    /// writeback once and then marks the pages clean. So the store stops: every later claim,
    /// sync and acknowledgement throws this error until the spool is opened again.
    private func syncFailed(_ error: SpoolError) -> SpoolError {
        let stopped = SpoolError(.io, "\(error.message); this store sends nothing more until the spool is opened again", sqliteCode: error.sqliteCode)
        walSyncFailure.withLock { if $0 == nil { $0 = stopped } }
        return stopped
    }

    /// Throws the failed sync's error, if one failed (see ``syncFailed(_:)``).
    func checkSyncFailure() throws(SpoolError) {
        if let failure = walSyncFailure.withLock({ $0 }) { throw failure }
    }

    /// What is left for `sink`, cheaply: entries after its position (counted from ids, so an
    /// upper bound when drops left gaps) and when the oldest of them began to wait: its commit
    /// time (its event time where the spool recorded none). A few index lookups, whatever the
    /// backlog's size: fit for a metrics gauge updated every second.
    package func backlog(of sink: String) throws(SpoolError) -> (entries: Int64, oldestPendingSince: Int64?) {
        let position = try position(of: sink)
        return try reader.withLock { reader throws(SpoolError) -> (Int64, Int64?) in
            let newest = try reader.connection.scalarInt("SELECT max(id) FROM entries") ?? position
            let oldest = try reader.connection.prepare("SELECT " + SpoolStats.pendingSinceSQL(after: "?", own: "", version: Migrations.latestVersion))
            oldest.bind(1, position)
            let timestamp = try oldest.step() ? oldest.optionalInt64(0) : nil
            return (max(0, newest - position), timestamp)
        }
    }

    private var isFsyncMode: Bool {
        if case .fsync = configuration.durability { return true }
        return false
    }

    func unknownSink(_ name: String) -> SpoolError {
        SpoolError(.unknownSink, "no sink named '\(name)' is registered in \(path)")
    }
}
