import Foundation
import Testing
@testable import Spool

/// A spool with the default configuration works on a small file system: the WAL's reserve is
/// sized from the file system, not fixed at 68 MB (which made an 8 MiB tmpfs drop every entry).
@Suite struct StoreSmallDiskTests {
    @Test(.enabled(if: getuid() == 0, "needs a tmpfs (root)"), arguments: [8, 16])
    func theDefaultConfigurationStoresHalfASmallFileSystemWithoutADrop(megabytes: Int) async throws {
        let fileSystem = SmallFileSystem(megabytes: megabytes)
        try #require(fileSystem.mounted, "mounting a tmpfs was refused")
        let reports = Reports()
        var configuration = SpoolStore.Configuration()
        configuration.report = reports.record
        let spool = try SpoolStore(path: fileSystem.path, configuration: configuration)
        // Half the file system in entries of ~250 bytes, committed 100 at a time.
        let batches = megabytes * (1 << 20) / 2 / (250 * 100)
        try await onOwnThread {
            for batch in 0..<batches {
                try spool.append(contentsOf: (0..<100).map { entry(batch * 100 + $0, message: String(repeating: "ü", count: 100)) })
            }
        }
        #expect(try spool.stats().droppedEntries == 0, "\(reports.topics())")
        #expect(reports.all.filter { $0.topic == "spool.store.dropped" }.isEmpty)
        #expect(try SQL(fileSystem.path).int("SELECT count(*) FROM entries") == Int64(batches * 100))
        try spool.close()
    }
}
