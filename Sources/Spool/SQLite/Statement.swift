import CSQLite

/// A prepared statement. Hot statements are prepared once with `persistent` and kept;
/// every use resets it. Like its connection, it has one owner at a time.
package final class Statement {
    private let handle: OpaquePointer
    private unowned let connection: Connection

    init(connection: Connection, sql: String, persistent: Bool) throws(SpoolError) {
        var statement: OpaquePointer?
        let flags: UInt32 = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, flags, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteFailure.error(rc, String(cString: sqlite3_errmsg(connection.handle)), connection: connection)
        }
        self.handle = statement
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(handle)
    }

    // MARK: - Binding (1-based indexes, as in SQL)

    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: String?) {
        guard var text = value else {
            sqlite3_bind_null(handle, index)
            return
        }
        text.withUTF8 { bytes in
            if let base = bytes.baseAddress, !bytes.isEmpty {
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { pointer in
                    _ = sqlite3_bind_text(handle, index, pointer, Int32(bytes.count), spool_sqlite_transient())
                }
            } else {
                // An empty string, not NULL: a null pointer would bind NULL.
                _ = sqlite3_bind_text(handle, index, "", 0, spool_sqlite_transient())
            }
        }
    }

    /// Binds UTF-8 text in place, without the copy ``bind(_:_:)-(_,String?)`` makes: the
    /// caller keeps `bytes` valid and unchanged until the statement is reset (`run()` resets
    /// it). nil binds NULL.
    func bindInPlace(_ index: Int32, _ bytes: UnsafeRawBufferPointer?) {
        guard let bytes else {
            sqlite3_bind_null(handle, index)
            return
        }
        if let pointer = bytes.baseAddress, !bytes.isEmpty {
            // A nil destructor is SQLITE_STATIC: SQLite reads the bytes where they are.
            _ = sqlite3_bind_text(handle, index, pointer.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
        } else {
            // An empty string, not NULL: a null pointer would bind NULL.
            _ = sqlite3_bind_text(handle, index, "", 0, spool_sqlite_transient())
        }
    }

    // MARK: - Running

    /// Advances to the next row: true on a row, false when done.
    @discardableResult
    func step() throws(SpoolError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteFailure.error(rc, String(cString: sqlite3_errmsg(connection.handle)), connection: connection)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it for the next use.
    func run() throws(SpoolError) {
        defer { reset() }
        while try step() {}
    }

    /// Resets the statement and clears its bindings.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: - Reading columns (0-based)

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    func text(_ column: Int32) -> String? {
        withTextBytes(column) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Calls `body` with a text column's bytes in place (nil for NULL), for a value that is
    /// compared, not kept: they are SQLite's, valid only until the next step or reset.
    func withTextBytes<R>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>?) -> R) -> R {
        guard let pointer = sqlite3_column_text(handle, column) else { return body(nil) }
        return body(UnsafeBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column))))
    }

    /// Number of columns in the result.
    var columnCount: Int32 { sqlite3_column_count(handle) }

    /// Byte length of a text column without copying it.
    func byteCount(_ column: Int32) -> Int { Int(sqlite3_column_bytes(handle, column)) }
}

@available(*, unavailable)
extension Statement: Sendable {}

@available(*, unavailable)
extension Connection: Sendable {}
