import Foundation
import Testing
@testable import Spool

/// Every ```sql block of docs/inspecting.md runs against a real spool.
@Suite struct InspectingRecipesTests {
    static let recipes: [String] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = (try? String(contentsOf: root.appendingPathComponent("docs/inspecting.md"), encoding: .utf8)) ?? ""
        var blocks: [String] = []
        var current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```sql" { current = [] } else if line == "```", let block = current {
                blocks.append(block.joined(separator: "\n"))
                current = nil
            } else if current != nil { current!.append(String(line)) }
        }
        return blocks
    }()

    @Test func theDocumentHasRecipes() {
        #expect(Self.recipes.count >= 8)
    }

    @Test(arguments: recipes)
    func recipeRunsOnARealSpool(_ sql: String) throws {
        let directory = TemporaryDirectory()
        let path = directory.file("app.spool")
        var configuration = SpoolStore.Configuration()
        configuration.maximumBytes = SpoolStore.Configuration.minimumMaximumBytes  // small, so the fixture has drops too
        configuration.report = { _ in }
        let spool = try SpoolStore(path: path, configuration: configuration)
        for number in 0..<300 { try spool.append(entry(1000 + number, message: String(repeating: "d", count: 1000))) }
        try spool.registerSink("loki")
        try spool.registerSink("otlp")
        try spool.append(contentsOf: [
            LogEntry(timestamp: SystemClock().now.nanoseconds, level: .error, topic: "billing", message: "declined", context: ["order": 8812]),
            entry(2), entry(3),
        ])
        let batch = try spool.claim(sink: "loki", owner: "test", maxCount: 100_000, maxBytes: Int.max)
        let first = try #require(batch.entries.first?.id)
        let second = try #require(batch.entries.dropFirst().first?.id)
        try spool.acknowledge(sink: "loki", owner: "test", through: second, delivered: 0,
                              deadLetters: [DeadLetter(entryID: first, status: 400, reason: "bad", attempts: 1),
                                            DeadLetter(entryID: second, status: 422, reason: "worse", attempts: 1)])
        // One of them requeued, so the requeue recipe has a row too.
        let letters = try SQL(path).rows("SELECT id FROM dead_letters WHERE status = 422")
        _ = try spool.requeueDeadLetters(matching: DeadLetterFilter(ids: [Int64(letters[0][0]!)!]))
        let rows = try SQL(path).rows(sql)
        #expect(!rows.isEmpty, "the recipe returned nothing: \(sql)")
    }
}
