@testable import Spool

/// Reads a spool file with a plain connection of its own, as a person with `sqlite3` would.
struct SQL {
    let connection: Connection

    init(_ path: String) throws {
        connection = try Connection(path: path, create: false)
    }

    func int(_ sql: String) throws -> Int64? { try connection.scalarInt(sql) }
    func text(_ sql: String) throws -> String? { try connection.scalarText(sql) }

    /// Every row of `sql`, each column as text (NULL as nil).
    func rows(_ sql: String) throws -> [[String?]] {
        let statement = try connection.prepare(sql)
        var rows: [[String?]] = []
        let columns = statement.columnCount
        while try statement.step() {
            rows.append((0..<columns).map { statement.isNull($0) ? nil : statement.text($0) })
        }
        return rows
    }
}
