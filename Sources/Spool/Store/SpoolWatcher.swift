import Foundation

/// Reads a spool again and again for `spool top`: one read-only connection, kept open, and
/// short reads (each statement its own read transaction, a few index lookups and one count per
/// sink), so an app's appends and a forwarder's acknowledgements never wait for it. It takes
/// no lease and writes nothing.
///
/// Not `Sendable`: the connection has one owner.
package final class SpoolWatcher {
    /// One sink as the spool knows it.
    package struct Sink: Sendable, Hashable {
        package var name: String
        package var pending: Int64
        /// When the oldest pending entry began to wait (Unix nanoseconds): its commit time, or its
        /// event time when the spool has none for it (before schema 7). Nil when nothing is pending.
        package var oldestPendingSince: Int64?
        package var delivered: Int64
        package var deadLettered: Int64
        /// Nil on a spool before schema 7 (its books start when it is migrated).
        package var books: SinkBooks?
        package var leaseOwner: String?
        package var leaseExpiresNanoseconds: Int64?
    }

    /// A spool at one moment (each sink read in its own short transaction).
    package struct Snapshot: Sendable {
        package var sinks: [Sink]
        package var oldestID: Int64?
        package var newestID: Int64?
        package var deadLetters: Int64
        package var droppedEntries: Int64
        package var walBytes: Int64
    }

    package let path: String
    private let connection: Connection

    /// Opens `path` read-only (never created, never migrated).
    /// - Throws: ``SpoolError``: `.io` for a missing file, `.notASpool`, `.newerSchema`.
    package init(path: String) throws(SpoolError) {
        self.path = path
        connection = try SpoolStore.openExisting(path, readOnly: true)
        // A writer's commit holds no lock a WAL reader waits for; a checkpoint restarting the
        // WAL can, briefly.
        SpoolFile.applyBusyTimeout(connection, .milliseconds(200))
        guard case .spool = try SpoolFile.inspectForReading(connection) else {
            throw SpoolError(.notASpool, "\(path) holds no spool yet (an empty file or database)")
        }
    }

    package func snapshot() throws(SpoolError) -> Snapshot {
        let version = try connection.scalarInt("PRAGMA user_version") ?? 0
        let own = version >= 4 ? " AND (only_sink IS NULL OR only_sink = s.name)" : ""
        let list = try connection.prepare("SELECT name FROM sinks ORDER BY name")
        var names: [String] = []
        while try list.step() { names.append(list.text(0) ?? "") }
        list.reset()
        let books = version >= 7
            ? try connection.prepare("SELECT accepted, delivered, dead_lettered, dropped, pending FROM sink_books WHERE sink = ?")
            : nil
        let state = try connection.prepare("""
            SELECT (SELECT count(*) FROM entries WHERE id > s.position\(own)),
                   \(SpoolStats.pendingSinceSQL(after: "s.position", own: own, version: Int(version))),
                   s.delivered, s.dead_lettered, s.lease_owner, s.lease_expires_ns
            FROM sinks AS s WHERE s.name = ?
            """)
        var sinks: [Sink] = []
        for name in names {
            state.bind(1, name)
            defer { state.reset() }
            guard try state.step() else { continue }  // removed meanwhile
            var sink = Sink(
                name: name, pending: state.int64(0), oldestPendingSince: state.optionalInt64(1),
                delivered: state.int64(2), deadLettered: state.int64(3),
                leaseOwner: state.text(4), leaseExpiresNanoseconds: state.optionalInt64(5))
            if let books {
                books.bind(1, name)
                defer { books.reset() }
                if try books.step() {
                    sink.books = SinkBooks(accepted: books.int64(0), delivered: books.int64(1), deadLettered: books.int64(2),
                                           dropped: books.int64(3), pending: books.int64(4))
                }
            }
            sinks.append(sink)
        }
        let ids = try connection.prepare("SELECT min(id), max(id) FROM entries")
        _ = try ids.step()
        let (oldest, newest) = (ids.optionalInt64(0), ids.optionalInt64(1))
        ids.reset()
        return Snapshot(
            sinks: sinks, oldestID: oldest, newestID: newest,
            deadLetters: try connection.scalarInt("SELECT count(*) FROM dead_letters") ?? 0,
            droppedEntries: try connection.scalarInt("SELECT COALESCE(sum(count), 0) FROM drops") ?? 0,
            walBytes: SpoolStats.fileSize(path + "-wal"))
    }
}

@available(*, unavailable)
extension SpoolWatcher: Sendable {}
