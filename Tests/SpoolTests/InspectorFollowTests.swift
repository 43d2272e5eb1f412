import Foundation
import Testing
@testable import Spool

/// `tail -f` prints the last entries, then follows: an entry appended between reading the newest
/// id and reading the last entries is printed once, not again when following starts.
@Suite struct InspectorFollowTests {
    @Test func anEntryAppendedBetweenTheTwoReadsIsPrintedOnce() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("app.spool")
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        let spool = try SpoolStore(path: path, configuration: configuration)
        try spool.append(contentsOf: (1...5).map { entry($0) })
        let inspector = try SpoolInspector(path: path)
        let (entries, followAfter) = try inspector.lastEntriesToFollow(3, matching: EntryFilter()) {
            try spool.append(entry(6))
        }
        var printed = entries.map(\.message)
        try inspector.forEachEntry(after: followAfter, matching: EntryFilter()) { printed.append($0.message) }
        #expect(printed == ["entry 4", "entry 5", "entry 6"])
    }
}
