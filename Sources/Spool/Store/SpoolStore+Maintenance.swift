import Foundation

/// Looking at a spool file from outside, for `spool stats`, `spool check` and `spool migrate`.
///
/// Unlike ``SpoolStore/init(path:configuration:)``, none of these creates a missing file,
/// moves a damaged one aside or migrates on the way: `stats` and `check` open the file
/// read-only, and `migrate` changes nothing but the schema.
extension SpoolStore {
    /// The schema version this build of Spool writes (the highest numbered migration).
    package static var latestSchemaVersion: Int { Migrations.latestVersion }

    /// What ``check(path:)`` found in a spool file.
    package struct CheckReport: Sendable, Codable, Hashable {
        /// The verdict. Everything but ``ok`` is a problem.
        package enum Status: String, Sendable, Codable, Hashable, CaseIterable {
            /// A spool at this binary's schema version that passed `PRAGMA integrity_check`.
            case ok
            /// A sound spool at an older schema version: `spool migrate` upgrades it (any
            /// writing command would also upgrade it on open).
            case outdatedSchema
            /// A spool written by a newer Spool: this binary must not write to it.
            case newerSchema
            /// Not a spool: a SQLite database of another application, or a file that is not
            /// SQLite at all and holds nothing recognisable as a spool. Spool never touches it.
            case notASpool
            /// A spool (recognised by its application id or spool id) that is damaged.
            case corrupt
            /// An empty file or database: no spool has been created in it yet.
            case empty
        }

        /// The file checked.
        package var path: String
        /// The verdict.
        package var status: Status
        /// The file's schema version (`PRAGMA user_version`), nil when it could not be read.
        package var schemaVersion: Int?
        /// The schema version this binary writes.
        package var supportedSchemaVersion: Int
        /// `ok`, the problems `PRAGMA integrity_check` listed, or nil when it did not run (the
        /// file was not recognised).
        package var integrity: String?
        /// One line for a person: what was found and what to do about it.
        package var message: String

        /// Whether nothing needs doing.
        package var isHealthy: Bool { status == .ok }
    }

    /// Checks a spool file's integrity and schema version without changing it.
    ///
    /// The file is opened read-only, never created, recovered or migrated. Problems the file
    /// has are the report's ``CheckReport/status``; only a file that cannot be looked at
    /// throws.
    ///
    /// ```swift
    /// let report = try SpoolStore.check(path: "app.spool")
    /// if !report.isHealthy { print(report.message) }
    /// ```
    ///
    /// - Parameter path: The spool file.
    /// - Throws: ``SpoolError`` with code `.io` when the file does not exist, is a directory or
    ///   cannot be opened.
    package static func check(path: String) throws(SpoolError) -> CheckReport {
        // Recognising a damaged file opens it again: only once this check's connection is closed
        // (closing another descriptor of the file would drop that connection's POSIX locks).
        unrecognisedAsNotASpool(try checkOpened(path))
    }

    private static func checkOpened(_ path: String) throws(SpoolError) -> CheckReport {
        let latest = Migrations.latestVersion
        var report = CheckReport(path: path, status: .ok, schemaVersion: nil, supportedSchemaVersion: latest, integrity: nil, message: "")
        _ = try openExisting(path, readOnly: true)  // a missing file or a directory throws here
        if let foreign = SpoolFile.foreignWAL(path) {
            report.status = .corrupt
            report.message = foreign
            return report
        }
        let connection = try openExisting(path, readOnly: true)
        // What the file is. A damaged or foreign file ends the check here.
        var kind: SpoolFile.Kind?
        do throws(SpoolError) {
            kind = try SpoolFile.inspect(connection)
        } catch where error.code == .newerSchema {
            // Still worth an integrity check: the file may be sound, only newer.
            report.status = .newerSchema
            report.message = error.message
            let version: Int64? = try? connection.scalarInt("PRAGMA user_version")
            report.schemaVersion = version.map { Int($0) }
        } catch where error.code == .notASpool || error.code == .corrupt {
            report.status = error.code == .corrupt ? .corrupt : .notASpool
            report.message = error.message
            return report
        }
        // Whether its pages are sound.
        do throws(SpoolError) {
            try SpoolFile.verify(connection, full: true)
            report.integrity = "ok"
        } catch where error.code == .corrupt {
            report.integrity = error.message
            report.status = .corrupt
            report.message = error.message
            return report
        }
        // Whether this binary can write to it as it is.
        switch kind {
        case nil:
            break  // newer: said above
        case .empty?:
            report.schemaVersion = 0
            report.status = .empty
            report.message = "\(path) holds no spool yet (an empty file or database); `spool ingest` would create one in it"
        case .spool(let version)? where version < latest:
            report.schemaVersion = version
            report.status = .outdatedSchema
            report.message = "\(path) is sound but has schema version \(version), older than this binary's \(latest): run `spool migrate --spool \(path)`"
        case .spool(let version)?:
            report.schemaVersion = version
            report.message = "\(path) is a sound spool at schema version \(version)"
        }
        return report
    }

    /// A damaged file is a damaged spool only when it is recognisably one; anything else is
    /// not a spool, which `repair` refuses to touch.
    private static func unrecognisedAsNotASpool(_ report: CheckReport) -> CheckReport {
        guard report.status == .corrupt, !SpoolFile.recognised(report.path) else { return report }
        var report = report
        report.status = .notASpool
        report.message = SpoolFile.notRecognised(report.path, SpoolError(.corrupt, report.message)).message
        return report
    }

    /// Applies the migrations a spool file is missing, in one transaction.
    ///
    /// The file must exist and be a sound spool; a damaged file is refused, not recovered.
    ///
    /// ```swift
    /// let (from, to) = try SpoolStore.migrate(path: "app.spool")  // (1, 2)
    /// ```
    ///
    /// - Parameters:
    ///   - path: The spool file.
    ///   - busyTimeout: How long to wait for another process's write lock.
    /// - Returns: The schema version before and after; equal when nothing was pending.
    /// - Throws: ``SpoolError``: `.io` for a missing file, `.newerSchema` for a spool from a
    ///   newer Spool, `.notASpool`, `.corrupt`, `.migrationFailed`. The file is unchanged then.
    package static func migrate(path: String, busyTimeout: Duration = .seconds(5)) throws(SpoolError) -> (from: Int, to: Int) {
        let (connection, kind) = try SpoolFile.openExistingForMaintenance(path, doing: "migrated", busyTimeout: busyTimeout)
        guard case .spool(let version) = kind else {
            throw SpoolError(.notASpool, "\(path) holds no spool yet (an empty file or database): there is nothing to migrate")
        }
        if version < Migrations.latestVersion { try Migrations.migrate(connection) }
        return (from: version, to: Migrations.latestVersion)
    }

    /// A snapshot of a spool file's contents, read without opening it for writing.
    ///
    /// ```swift
    /// let stats = try SpoolStore.stats(path: "app.spool")
    /// print(stats.entries, stats.sinks.map(\.pending))
    /// ```
    ///
    /// - Parameters:
    ///   - path: The spool file; it is not created when missing.
    ///   - clock: The clock that pending ages are measured against.
    /// - Throws: ``SpoolError``: `.io` for a missing file, `.notASpool`, `.corrupt`,
    ///   `.newerSchema`.
    package static func stats(path: String, clock: any WallClock = SystemClock()) throws(SpoolError) -> SpoolStats {
        let connection = try openExisting(path, readOnly: true)
        SpoolFile.applyBusyTimeout(connection, .seconds(5))
        guard case .spool = try SpoolFile.inspectForReading(connection) else {
            throw SpoolError(.notASpool, "\(path) holds no spool yet (an empty file or database)")
        }
        return try SpoolStats.read(from: connection, path: path, now: clock.now.nanoseconds)
    }

    /// Opens a file that must already exist: never creates one.
    static func openExisting(_ path: String, readOnly: Bool) throws(SpoolError) -> Connection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SpoolError(.io, "no spool at \(path): the file does not exist (nothing was created)")
        }
        if isDirectory.boolValue {
            throw SpoolError(.io, "\(path) is a directory: give the spool's file path, for example \(path)/app.spool")
        }
        try SpoolFile.checkNotBesideASpool(path)
        return try Connection(path: path, create: false, readOnly: readOnly)
    }
}
