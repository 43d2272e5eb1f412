import CSQLite

/// Copies every readable row of a damaged spool into a fresh one, table by table, for
/// ``SpoolStore/repair(path:clock:progress:)``.
///
/// SQLite's C library has no `.recover` (that lives in the `sqlite3` shell), so rows are read
/// through the table b-trees by rowid: a scan in rowid order runs until a damaged page stops
/// it; then the first rowid the b-tree can seek to again is found by probing (doubling steps,
/// then bisection), the rowids in between are recorded as lost, and the scan resumes there.
/// Each damaged region costs about a hundred cheap seeks, whatever the table's size.
///
/// Both connections belong to the salvage for its run; it does not cross threads.
package final class Salvage {
    let source: Connection
    let target: Connection
    private let progress: (String, Int) -> Void
    /// Set when writing the fresh spool failed (a full disk, an I/O error): the copy is
    /// incomplete for a reason that is not damage, so the repair must not install it.
    private(set) var writeFailure: SpoolError?

    init(source: Connection, target: Connection, progress: @escaping (String, Int) -> Void) {
        self.source = source
        self.target = target
        self.progress = progress
    }

    /// How rows that already exist in the fresh spool (the migration's `meta` rows) are handled.
    enum Conflict: String {
        case ignore = "OR IGNORE"
        case replace = "OR REPLACE"
    }

    /// Copies `table`; `lowestRowID` is where its rowids can start (lost ranges begin no lower).
    func copy(_ table: String, withoutRowID: Bool, conflict: Conflict, lowestRowID: Int64 = 1) -> SpoolStore.RepairReport.Table {
        var report = SpoolStore.RepairReport.Table(name: table)
        let columns: [String]
        do throws(SpoolError) {
            columns = try self.columns(of: table)
        } catch {
            report.readable = false
            report.note = "unreadable: \(error.message)"
            return report
        }
        if columns.isEmpty {
            report.note = "not in the damaged file (an older schema)"
            return report
        }
        let names = columns.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
        var prepared: OpaquePointer?
        let sql = "INSERT \(conflict.rawValue) INTO \(table) (\(names)) VALUES (\(placeholders))"
        guard sqlite3_prepare_v2(target.handle, sql, -1, &prepared, nil) == SQLITE_OK, let insert = prepared else {
            sqlite3_finalize(prepared)
            report.readable = false
            report.note = "cannot write: \(String(cString: sqlite3_errmsg(target.handle)))"
            return report
        }
        defer { sqlite3_finalize(insert) }
        if withoutRowID {
            copyWithoutRowID(table, names: names, insert: insert, report: &report)
        } else {
            copyByRowID(table, names: names, insert: insert, lowestRowID: lowestRowID, report: &report)
        }
        return report
    }

    // MARK: - Rowid tables

    private func copyByRowID(_ table: String, names: String, insert: OpaquePointer, lowestRowID: Int64,
                             report: inout SpoolStore.RepairReport.Table) {
        let sql = "SELECT rowid, \(names) FROM \(table) WHERE rowid >= ?1 ORDER BY rowid"
        var start = lowestRowID
        while true {
            guard let select = prepareSource(sql) else {
                report.readable = false
                report.note = "unreadable: \(String(cString: sqlite3_errmsg(source.handle)))"
                return
            }
            defer { sqlite3_finalize(select) }
            sqlite3_bind_int64(select, 1, start)
            var lastRead: Int64?
            var rc = sqlite3_step(select)
            while rc == SQLITE_ROW {
                let rowid = sqlite3_column_int64(select, 0)
                store(select, offset: 1, into: insert, report: &report)
                lastRead = rowid
                rc = sqlite3_step(select)
            }
            if rc == SQLITE_DONE { return }
            // A damaged page: everything from the first rowid not read is in doubt.
            report.errors += 1
            let lostFrom: Int64
            if let lastRead {
                guard lastRead < Int64.max else { return }
                lostFrom = lastRead + 1
            } else {
                lostFrom = start
            }
            guard let resume = firstSeekable(sql, after: lostFrom) else {
                report.lostRanges.append(.init(first: lostFrom, last: nil))
                return
            }
            report.lostRanges.append(.init(first: lostFrom, last: resume - 1))
            start = resume
        }
    }

    /// The smallest rowid above `lostFrom` where a scan can start and read a row (or find the
    /// end), nil when none can: doubling steps, then bisection between the last failure and
    /// the first success.
    private func firstSeekable(_ sql: String, after lostFrom: Int64) -> Int64? {
        var failing = lostFrom
        var step: Int64 = 1
        var succeeding: Int64
        while true {
            let (candidate, overflow) = lostFrom.addingReportingOverflow(step)
            if overflow { return nil }
            if probe(sql, at: candidate) {
                succeeding = candidate
                break
            }
            failing = candidate
            guard step <= Int64.max / 2 else { return nil }
            step *= 2
        }
        while succeeding - failing > 1 {
            let middle = failing + (succeeding - failing) / 2
            if probe(sql, at: middle) { succeeding = middle } else { failing = middle }
        }
        return succeeding
    }

    /// Whether a scan starting at `rowid` reads its first row (every column) or finds the end.
    private func probe(_ sql: String, at rowid: Int64) -> Bool {
        guard let select = prepareSource(sql) else { return false }
        defer { sqlite3_finalize(select) }
        sqlite3_bind_int64(select, 1, rowid)
        let rc = sqlite3_step(select)
        return rc == SQLITE_ROW || rc == SQLITE_DONE
    }

    // MARK: - Tables without rowid

    /// `counters` and `counter_marks` are small and keyed by text: read in key order until a
    /// damaged page stops the scan; what follows it is lost, and not countable.
    private func copyWithoutRowID(_ table: String, names: String, insert: OpaquePointer,
                                  report: inout SpoolStore.RepairReport.Table) {
        guard let select = prepareSource("SELECT \(names) FROM \(table)") else {
            report.readable = false
            report.note = "unreadable: \(String(cString: sqlite3_errmsg(source.handle)))"
            return
        }
        defer { sqlite3_finalize(select) }
        var rc = sqlite3_step(select)
        while rc == SQLITE_ROW {
            store(select, offset: 0, into: insert, report: &report)
            rc = sqlite3_step(select)
        }
        if rc != SQLITE_DONE {
            report.errors += 1
            report.note = "a damaged page ended the scan; the rows after it are lost (not countable)"
        }
    }

    // MARK: - Rows

    /// Inserts the current row of `select` (columns from `offset` on) through `insert`.
    private func store(_ select: OpaquePointer, offset: Int32, into insert: OpaquePointer,
                       report: inout SpoolStore.RepairReport.Table) {
        sqlite3_reset(insert)
        let count = sqlite3_column_count(select) - offset
        for index in 0..<count {
            sqlite3_bind_value(insert, index + 1, sqlite3_column_value(select, index + offset))
        }
        // A row the fresh schema refuses (a CHECK, NOT NULL, or a duplicate key) is counted,
        // not fatal: damage can make a readable row hold nonsense. Any other failure is the
        // target's, not the row's.
        guard writeFailure == nil else { return }
        let rc = sqlite3_step(insert)
        if rc == SQLITE_DONE && target.changes > 0 {
            report.saved += 1
        } else if rc == SQLITE_DONE || rc & 0xFF == SQLITE_CONSTRAINT || rc & 0xFF == SQLITE_MISMATCH {
            report.rejected += 1
        } else {
            writeFailure = SpoolError(.io, "writing the salvaged copy failed (\(String(cString: sqlite3_errmsg(target.handle)))); nothing was installed", sqliteCode: rc)
        }
        if report.saved % 1000 == 0 { progress(report.name, report.saved) }
    }

    private func prepareSource(_ sql: String) -> OpaquePointer? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(source.handle, sql, -1, &statement, nil) == SQLITE_OK else {
            sqlite3_finalize(statement)
            return nil
        }
        return statement
    }

    /// The fresh spool's columns of `table` that the damaged file also has; empty when the
    /// damaged file has no such table.
    private func columns(of table: String) throws(SpoolError) -> [String] {
        let wanted = try names(in: target, table: table)
        let present = (try? names(in: source, table: table)) ?? []
        // The damaged file's schema can be unreadable while its pages are not: try ours.
        if present.isEmpty {
            guard let probe = prepareSource("SELECT \(wanted.joined(separator: ", ")) FROM \(table) LIMIT 0") else {
                let message = String(cString: sqlite3_errmsg(source.handle))
                if message.hasPrefix("no such table") { return [] }
                throw SpoolError(.corrupt, message)
            }
            sqlite3_finalize(probe)
            return wanted
        }
        return wanted.filter(present.contains)
    }

    private func names(in connection: Connection, table: String) throws(SpoolError) -> [String] {
        let statement = try connection.prepare("SELECT name FROM pragma_table_info('\(table)')")
        var names: [String] = []
        while try statement.step() { names.append(statement.text(0) ?? "") }
        return names
    }
}
