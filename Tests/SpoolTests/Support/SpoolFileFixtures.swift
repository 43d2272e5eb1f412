import Foundation
@testable import Spool

/// Spool files for the tests of opening, damage and foreign files.
protocol SpoolFileFixtures {}

extension SpoolFileFixtures {
    /// A store configuration whose reports go nowhere.
    var quiet: SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        return configuration
    }

    /// A spool of `count` entries (ids 1…count, messages "ours n" padded to ~300 bytes) with a
    /// sink registered, closed, everything checkpointed into the file: no -wal left.
    func closedSpool(_ path: String, count: Int = 3000) throws {
        let spool = try SpoolStore(path: path, configuration: quiet)
        try spool.registerSink("loki")
        try spool.append(contentsOf: (1...count).map { entry($0, message: "ours \($0) " + String(repeating: "m", count: 300)) })
        try spool.close()
        try SQL(path).connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}
