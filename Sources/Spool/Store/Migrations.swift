import CSQLite
import Foundation

/// The schema's history: `migrations/NNNN_name.sql`, embedded at build time by the
/// `EmbedMigrations` plugin. Swift code never spells the schema itself.
package enum Migrations {
    struct Migration: Sendable {
        let version: Int
        let name: String
        let sql: String
    }

    /// Every migration, in version order.
    static let all: [Migration] = EmbeddedMigrations.files.map { file in
        let data = Data(base64Encoded: file.base64) ?? Data()
        return Migration(version: file.version, name: file.name, sql: String(decoding: data, as: UTF8.self))
    }

    /// The schema version this build writes: the highest migration.
    static var latestVersion: Int { all.last?.version ?? 0 }

    /// The application id the first migration stamps into the file header ("SPOL").
    static let applicationID: Int64 = 0x5350_4F4C

    /// Applies every migration above the file's `user_version`, up to `target`, in order, inside
    /// one IMMEDIATE transaction: either the spool reaches `target` or nothing changes.
    /// - Returns: the versions applied.
    @discardableResult
    static func migrate(_ connection: Connection, to target: Int = latestVersion) throws(SpoolError) -> [Int] {
        // Migration 6 writes the schema's text (writable_schema), which defensive mode forbids:
        // off while migrating, then as it was.
        let defensive = spool_sqlite_defensive(connection.handle, 0)
        defer { _ = spool_sqlite_defensive(connection.handle, defensive) }
        do {
            return try connection.transaction { () throws(SpoolError) -> [Int] in
                // Read inside the transaction: another process may have migrated meanwhile.
                let current = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
                if current > latestVersion {
                    throw newer(current, path: connection.path)
                }
                var applied: [Int] = []
                for migration in all where migration.version > current && migration.version <= target {
                    do throws(SpoolError) {
                        try connection.execute(migration.sql)
                    } catch {
                        throw SpoolError(.migrationFailed, "migration \(migration.name) failed and was rolled back: \(error.message)", sqliteCode: error.sqliteCode)
                    }
                    try connection.execute("PRAGMA user_version = \(migration.version)")
                    applied.append(migration.version)
                }
                return applied
            }
        }
    }

    static func newer(_ version: Int, path: String) -> SpoolError {
        SpoolError(.newerSchema, "\(path) has schema version \(version), newer than this spool's \(latestVersion): upgrade Spool to open it (nothing was changed)")
    }
}

extension SpoolStore {
    /// Test support (the power-cut simulator's `migrate` workload): creates a new spool at an
    /// older schema version, in WAL mode, as an older Spool would have left it.
    /// - Parameters:
    ///   - path: Where; the file must not exist yet.
    ///   - schemaVersion: 1 up to the latest.
    /// - Throws: ``SpoolError`` from SQLite.
    package static func createSpool(path: String, schemaVersion: Int) throws(SpoolError) {
        try SpoolFile.createIfMissing(path)
        let connection = try Connection(path: path, create: false)
        try connection.execute("PRAGMA journal_mode = WAL")
        try Migrations.migrate(connection, to: schemaVersion)
    }
}
