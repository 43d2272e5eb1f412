import CSQLite
import Foundation

// The size bound: how many bytes the spool's data occupies, how near it is to
// `maximumBytes` or a full disk, and what the overflow policy drops to make room.
extension Writer {

    /// (page_count - freelist_count) * page_size: the pages the data occupies.
    func measureUsedBytes() throws(SpoolError) -> Int64 {
        let used = try usedBytes()
        bytesSinceMeasure = 0
        return used
    }

    func usedBytes() throws(SpoolError) -> Int64 {
        let pages = try connection.scalarInt("PRAGMA page_count") ?? 0
        let free = try connection.scalarInt("PRAGMA freelist_count") ?? 0
        let size = try connection.scalarInt("PRAGMA page_size") ?? 4096
        return (pages - free) * size
    }

    /// Tries a RESTART checkpoint on the writer's connection: at most three tries, each waiting
    /// at most 2 ms for another connection (a forwarder's claim, the background checkpointer
    /// finishing a PASSIVE), so about 10 ms at worst, not the connection's busy timeout: this
    /// runs on the append path, under the writer's lock, and only near a full disk. If someone
    /// is still in the way, the commit goes ahead; the next measure asks again. (It used to be
    /// up to 70 tries, ~200 ms; a single try left the WAL to fill the disk when the
    /// background checkpointer happened to be running.)
    func restartWAL() {
        SpoolFile.applyBusyTimeout(connection, .milliseconds(2))
        defer { SpoolFile.applyBusyTimeout(connection, busyTimeout) }
        for _ in 0..<3 {
            guard let statement = try? connection.prepare("PRAGMA wal_checkpoint(RESTART)"),
                  (try? statement.step()) == true, statement.int64(0) != 0
            else { return }
        }
    }

    /// A bound on the used bytes, and whether the disk set it (rather than `maximumBytes`).
    struct Bound {
        var bytes: Int64
        var disk: Bool
    }

    /// Slack for what the byte estimate does not see (b-tree overhead, the -shm file).
    private static let diskMargin: Int64 = 64 * 4096

    /// The bound now: `maximumBytes`, or what the file system can still hold if that is lower.
    ///
    /// The database may grow to its file's size plus the file system's free space, minus what
    /// the WAL still needs to reach its reserve (17 checkpoints' worth) and a margin.
    /// Pages already allocated (free pages reused first) never need new space, so the bound is
    /// never below the database's page count. Deleting entries moves pages to the free list and
    /// leaves this figure unchanged, which is why `dropOldest` can free room under it.
    ///
    /// Near a full disk the WAL cannot be left to the background checkpointer, which a tight
    /// stream of commits can starve (measured: an 8 MiB WAL beside a 160 KiB database): past
    /// half its reserve, the writer checkpoints before its next commit.
    func measureBound(used: Int64) throws(SpoolError) -> Bound {
        var bound = Bound(bytes: maximumBytes ?? .max, disk: false)
        let pageSize = try connection.scalarInt("PRAGMA page_size") ?? 4096
        let pages = try connection.scalarInt("PRAGMA page_count") ?? 0
        var room: Int64?
        let wal = Self.fileSize(connection.path + "-wal")
        if let free = Self.freeBytes(connection.path) {
            room = Self.fileSize(connection.path) + free - max(0, walReserveBytes - wal) - Self.diskMargin
        }
        if let maximumPageCount {
            room = min(room ?? .max, maximumPageCount * pageSize - Self.diskMargin)
        }
        if let room {
            let disk = max(pages * pageSize, room)
            if disk < bound.bytes { bound = Bound(bytes: disk, disk: true) }
        }
        checkpointFirst = bound.disk && bound.bytes - used < 4 * walReserveBytes && wal > walReserveBytes / 2
        return bound
    }

    /// The size of the file system holding `path`, in bytes.
    static func fileSystemBytes(_ path: String) -> Int64? {
        fileSystemBlocks(path).map { $0.total * $0.size }
    }

    /// Bytes free for an unprivileged writer on the file system holding `path`.
    static func freeBytes(_ path: String) -> Int64? {
        fileSystemBlocks(path).map { $0.available * $0.size }
    }

    /// The file system's blocks: how many in all, how many an unprivileged writer may use, and
    /// their size in bytes. Linux: `statvfs` (`f_frsize` is the unit of the counts). Apple
    /// platforms: `statfs`, whose counts are 64-bit (`statvfs`'s `fsblkcnt_t` is 32-bit there)
    /// and whose unit is `f_bsize`.
    private static func fileSystemBlocks(_ path: String) -> (total: Int64, available: Int64, size: Int64)? {
        #if canImport(Darwin)
        var info = statfs()
        guard statfs(path, &info) == 0 else { return nil }
        return (Int64(info.f_blocks), Int64(info.f_bavail), Int64(info.f_bsize))
        #else
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return (Int64(info.f_blocks), Int64(info.f_bavail), Int64(info.f_frsize))
        #endif
    }

    package static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Frees room for `incoming` bytes under the bound, by the overflow policy.
    /// - Returns: false when the incoming rows must not be inserted (dropped by `dropNewest`).
    func makeRoom(for incoming: Int64, rows: Int, now: Int64, outcome: inout Outcome) throws(SpoolError) -> Bool {
        // A commit writes at least a page to the WAL, whatever the rows' size.
        bytesSinceMeasure += incoming + 4096
        if usedBytesEstimate + incoming <= bound.bytes && bytesSinceMeasure < measureEvery {
            usedBytesEstimate += incoming
            return true
        }
        var used = try measureUsedBytes()
        bound = try measureBound(used: used)
        let maximum = bound.bytes
        measureEvery = bound.disk ? max(64 << 10, min(Self.remeasureEvery, (maximum - used) / 4)) : Self.remeasureEvery
        if used + incoming <= maximum {
            usedBytesEstimate = used + incoming
            return true
        }
        // Entries every sink has passed (left by chunked deletions) are not drops: those first,
        // chunk after chunk, until there is room or nothing passed is left.
        while try deletePassedEntries() > 0 {
            used = try measureUsedBytes()
            if used + incoming <= maximum {
                usedBytesEstimate = used + incoming
                return true
            }
        }
        let cause = bound.disk ? SpoolStore.DropCause.diskFull : .overflow
        switch policy {
        case .reject:
            usedBytesEstimate = used
            if bound.disk {
                throw SpoolError(.diskFull, "the file system holding the spool \(connection.path) is full (\(Self.freeBytes(connection.path) ?? 0) bytes free, of which the spool keeps \(walReserveBytes) for its WAL) and its overflow policy is reject: new entries are refused until forwarding frees space in the spool or space is freed on that file system")
            }
            throw SpoolError(.spoolFull, "the spool at \(connection.path) holds \(used) bytes of its \(maximum)-byte bound and its overflow policy is reject: new entries are refused until forwarding frees space")
        case .dropNewest:
            try record(Drop(reason: SpoolStore.dropReason(cause, .dropNewest), count: rows, firstID: nil, lastID: nil, bytes: incoming), now: now, outcome: &outcome)
            usedBytesEstimate = used
            return false
        case .dropOldest:
            // Free down to 90% of the bound so drops come in chunks, not one per append; at the
            // disk's bound, no more than one deletion's worth (the WAL needs room for it).
            let target = maximum - (bound.disk ? min(maximum / 10, deleteChunkBytes) : maximum / 10) - incoming
            for _ in 0..<16 where used > target {
                guard let oldest = try connection.scalarInt("SELECT min(id) FROM entries"),
                      let newest = try connection.scalarInt("SELECT max(id) FROM entries")
                else { break }
                let average = max(1, used / max(1, newest - oldest + 1))
                let count = min(newest - oldest + 1, max(1, (used - target) / average + 1))
                let last = oldest + count - 1
                try countDropped(through: last)
                let deleted = try deleteEntries(through: last)
                try record(Drop(reason: SpoolStore.dropReason(cause, .dropOldest), count: deleted, firstID: oldest, lastID: last, bytes: count * average), now: now, outcome: &outcome)
                used = try measureUsedBytes()
            }
            if used + incoming > maximum {
                // Nothing left to drop (the bound is taken by dead letters or one huge entry).
                try record(Drop(reason: SpoolStore.dropReason(cause, .dropNewest), count: rows, firstID: nil, lastID: nil, bytes: incoming), now: now, outcome: &outcome)
                usedBytesEstimate = used
                return false
            }
            usedBytesEstimate = used + incoming
            return true
        }
    }

    /// Records `drop` in `drops` and in `outcome` (reported after the commit). A drop of the
    /// oldest entries that continues the transaction's previous one (same reason, the next id)
    /// extends it: one row and one report per run of ids, however many parts or rounds made
    /// room (an append in parts under drop_oldest would otherwise make one per part).
    func record(_ drop: Drop, now: Int64, outcome: inout Outcome) throws(SpoolError) {
        if let row = outcome.lastDropRow, let last = outcome.drops.last, last.reason == drop.reason,
           let lastID = last.lastID, let first = drop.firstID, first == lastID + 1 {
            let extend = try connection.prepare("UPDATE drops SET count = count + ?, last_id = ?, bytes = bytes + ? WHERE id = ?")
            extend.bind(1, Int64(drop.count))
            extend.bind(2, drop.lastID)
            extend.bind(3, drop.bytes)
            extend.bind(4, row)
            try extend.run()
            outcome.drops[outcome.drops.count - 1].count += drop.count
            outcome.drops[outcome.drops.count - 1].lastID = drop.lastID
            outcome.drops[outcome.drops.count - 1].bytes += drop.bytes
            return
        }
        let statement = try connection.prepare("INSERT INTO drops (at_ns, reason, count, first_id, last_id, bytes) VALUES (?, ?, ?, ?, ?, ?)")
        statement.bind(1, now)
        statement.bind(2, drop.reason)
        statement.bind(3, Int64(drop.count))
        statement.bind(4, drop.firstID)
        statement.bind(5, drop.lastID)
        statement.bind(6, drop.bytes)
        try statement.run()
        outcome.lastDropRow = connection.lastInsertRowID
        outcome.drops.append(drop)
    }
}

extension SpoolStore {
    /// What made the store drop: its size bound, or the file system's free space.
    package enum DropCause: String, CaseIterable, Sendable {
        case overflow
        case diskFull = "disk_full"
    }

    /// The reason a drop is recorded with (`drops.reason`, the metrics' `reason` label):
    /// `overflow:dropOldest`, `disk_full:dropNewest`, …
    package static func dropReason(_ cause: DropCause, _ policy: OverflowPolicy) -> String {
        "\(cause.rawValue):\(policy.rawValue)"
    }

    /// Every reason the store can drop for.
    package static let dropReasons = DropCause.allCases.flatMap { cause in
        [OverflowPolicy.dropOldest, .dropNewest].map { dropReason(cause, $0) }
    }
}
