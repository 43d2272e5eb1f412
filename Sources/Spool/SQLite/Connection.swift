import CSQLite
import Foundation
import Synchronization

/// The oldest SQLite Spool runs on (what Ubuntu 20.04 ships): nothing newer is used.
package let minimumSQLiteVersionNumber: Int32 = 3_031_000

/// One SQLite connection. It has one owner at a time and does not cross threads on its own:
/// the store hands it between threads only under a lock.
package final class Connection {
    let handle: OpaquePointer
    let path: String

    /// Opens (or creates, with `create`) the database at `path`. `immutable` reads the database
    /// file alone, read-only, ignoring its WAL and every lock (SQLite's `immutable` URI flag).
    init(path: String, create: Bool, readOnly: Bool = false, immutable: Bool = false) throws(SpoolError) {
        let version = sqlite3_libversion_number()
        guard version >= minimumSQLiteVersionNumber else {
            throw SpoolError(.sqliteTooOld, "SQLite \(String(cString: sqlite3_libversion())) is too old: Spool needs 3.31.0 or newer")
        }
        var db: OpaquePointer?
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        if readOnly { flags |= SQLITE_OPEN_READONLY } else { flags |= SQLITE_OPEN_READWRITE }
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        var name = path
        if immutable {
            flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
            let escaped = path.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "?", with: "%3f")
                .replacingOccurrences(of: "#", with: "%23")
            name = "file:\(escaped)?immutable=1"
        }
        let rc = sqlite3_open_v2(name, &db, flags, TestVFS.name(for: path))
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SpoolError(rc == SQLITE_CANTOPEN ? .io : .sqlite, "cannot open \(path): \(message)", sqliteCode: rc)
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(SpoolError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(errorMessage)
            throw SQLiteFailure.error(rc, message, connection: self)
        }
    }

    /// Prepares a statement; `persistent` for statements kept for the hot path.
    func prepare(_ sql: String, persistent: Bool = false) throws(SpoolError) -> Statement {
        try Statement(connection: self, sql: sql, persistent: persistent)
    }

    /// The first column of the first row of `sql`, as an integer (nil when no row or NULL).
    func scalarInt(_ sql: String) throws(SpoolError) -> Int64? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// The first column of the first row of `sql`, as text.
    func scalarText(_ sql: String) throws(SpoolError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` by default), committing on success.
    func transaction<R>(immediate: Bool = true, _ body: () throws(SpoolError) -> R) throws(SpoolError) -> R {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        do throws(SpoolError) {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// Test-only: connections to files under a directory open through another registered SQLite
/// VFS (the power-cut simulator's recorder, Tests/CPowerCut). Nothing is routed outside tests:
/// every connection then uses SQLite's default VFS.
package enum TestVFS {
    private static let routes = Mutex<[(directory: String, vfs: String)]>([])

    /// Routes files under `directory` (an absolute path) through `vfs`; nil removes the route.
    package static func route(_ directory: String, through vfs: String?) {
        routes.withLock { routes in
            routes.removeAll { $0.directory == directory }
            if let vfs { routes.append((directory, vfs)) }
        }
    }

    static func name(for path: String) -> String? {
        routes.withLock { routes in routes.first { path.hasPrefix($0.directory + "/") }?.vfs }
    }
}

/// Turns SQLite result codes into ``SpoolError`` values with the right ``SpoolError/Code``.
package enum SQLiteFailure {
    static func error(_ rc: Int32, _ message: String, connection: Connection?) -> SpoolError {
        let where_ = connection.map { " (\($0.path))" } ?? ""
        switch rc & 0xFF {
        case SQLITE_FULL:
            return SpoolError(.diskFull, "the disk or the spool's page limit is full\(where_): \(message)", sqliteCode: rc)
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return SpoolError(.corrupt, "the spool file is damaged or not a database\(where_): \(message)", sqliteCode: rc)
        case SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_READONLY, SQLITE_PERM:
            return SpoolError(.io, "file-system error\(where_): \(message)", sqliteCode: rc)
        default:
            return SpoolError(.sqlite, "\(message)\(where_)", sqliteCode: rc)
        }
    }
}
