import CSQLite
import Foundation

/// `spool compact`: giving back the space that delivered entries left behind.
///
/// Deleting delivered entries leaves free pages inside the file (SQLite reuses them, but never
/// returns them to the file system) and a WAL that only a checkpoint truncates. Compaction
/// checkpoints the WAL into the file, rebuilds the file with `VACUUM`, and truncates the WAL.
extension SpoolStore {
    /// What ``compact(path:busyTimeout:force:clock:)`` did, in bytes on disk.
    package struct CompactReport: Sendable, Codable, Hashable {
        /// The spool file.
        package var path: String
        /// The database file's size before.
        package var fileBytesBefore: Int64
        /// The WAL file's size before (0 when there was none).
        package var walBytesBefore: Int64
        /// The database file's size after.
        package var fileBytesAfter: Int64
        /// The WAL file's size after; 0 unless another connection was reading and kept it.
        package var walBytesAfter: Int64
        /// Free pages in the file before `VACUUM` (`PRAGMA freelist_count`).
        package var freePagesBefore: Int64
        /// The page size, in bytes.
        package var pageSize: Int64
        /// Whether the final checkpoint could truncate the WAL (false when a reader held it).
        package var walTruncated: Bool
        /// How long it took, in seconds.
        package var seconds: Double

        /// Bytes given back: file and WAL before, less file and WAL after (never negative).
        package var bytesFreed: Int64 {
            max(0, fileBytesBefore + walBytesBefore - fileBytesAfter - walBytesAfter)
        }
    }

    /// Checkpoints a spool's WAL into the file, rebuilds the file without its free pages
    /// (`VACUUM`) and truncates the WAL.
    ///
    /// `VACUUM` holds the spool's write lock for its whole run, so an application appending to
    /// the spool waits (up to its own busy timeout) until it ends. Compaction therefore refuses
    /// to run while a forwarder holds a live sink lease, unless `force` is set: a running
    /// forwarder means a running pipeline. It waits at most `busyTimeout` for a writer to
    /// finish its transaction.
    ///
    /// ```swift
    /// let report = try SpoolStore.compact(path: "app.spool")
    /// print("freed \(report.bytesFreed) bytes")
    /// ```
    ///
    /// - Parameters:
    ///   - path: The spool file; it must exist.
    ///   - busyTimeout: How long to wait for another connection's write lock. Default 5 s.
    ///   - force: Compact even while a sink's lease is held by a forwarder.
    ///   - clock: The clock leases are compared with.
    /// - Returns: Sizes before and after.
    /// - Throws: ``SpoolError``: `.io` for a missing file, `.notASpool`, `.corrupt`,
    ///   `.newerSchema`, `.leaseHeld` naming the forwarder, `.sqlite` (busy) when another
    ///   connection held the write lock past `busyTimeout`.
    package static func compact(path: String, busyTimeout: Duration = .seconds(5), force: Bool = false,
                               clock: any WallClock = SystemClock()) throws(SpoolError) -> CompactReport {
        let started = ContinuousClock.now
        let walPath = path + "-wal"
        let fileBefore = Self.fileSize(path)
        let walBefore = Self.fileSize(walPath)
        let (connection, kind) = try SpoolFile.openExistingForMaintenance(path, doing: "compacted", busyTimeout: busyTimeout)
        guard case .spool = kind else {
            throw SpoolError(.notASpool, "\(path) holds no spool yet (an empty file or database): there is nothing to compact")
        }
        if !force { try refuseWhileLeased(connection, path: path, now: clock.now.nanoseconds) }

        let mode = try connection.scalarText("PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw SpoolError(.io, "\(path): cannot switch to WAL mode (got \(mode ?? "nothing"))")
        }
        try checkpoint(connection)
        let pageSize = try connection.scalarInt("PRAGMA page_size") ?? 4096
        let freePages = try connection.scalarInt("PRAGMA freelist_count") ?? 0
        try connection.execute("VACUUM")
        let truncated = try checkpoint(connection)
        let report = CompactReport(
            path: path, fileBytesBefore: fileBefore, walBytesBefore: walBefore,
            fileBytesAfter: Self.fileSize(path), walBytesAfter: Self.fileSize(walPath),
            freePagesBefore: freePages, pageSize: pageSize, walTruncated: truncated,
            seconds: Double((ContinuousClock.now - started).totalNanoseconds) / 1e9)
        return report
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`; false when a reader kept it from finishing.
    @discardableResult
    private static func checkpoint(_ connection: Connection) throws(SpoolError) -> Bool {
        let statement = try connection.prepare("PRAGMA wal_checkpoint(TRUNCATE)")
        guard try statement.step() else { return false }
        return statement.int64(0) == 0
    }

    private static func refuseWhileLeased(_ connection: Connection, path: String, now: Int64) throws(SpoolError) {
        let statement = try connection.prepare(
            "SELECT name, lease_owner, lease_expires_ns FROM sinks WHERE lease_owner IS NOT NULL AND lease_expires_ns > ? ORDER BY name LIMIT 1")
        statement.bind(1, now)
        guard try statement.step() else { return }
        let sink = statement.text(0) ?? "?"
        let owner = statement.text(1) ?? "?"
        let until = UnixTime.iso8601(nanoseconds: statement.int64(2))
        throw SpoolError(.leaseHeld, "sink '\(sink)' of \(path) is being forwarded by \(owner) until \(until) (its lease): compaction would stall it; stop the forwarder first, or pass --force")
    }

    /// The size of a file in bytes, 0 when it does not exist.
    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }
}
