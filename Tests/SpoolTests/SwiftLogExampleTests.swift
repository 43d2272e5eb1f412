import Foundation
import Logging
import Spool
import Testing
@testable import Spool

/// The swift-log example of docs/swift-log-example.md, line for line, except the lines marked
/// `// app:` (the example's line follows the marker): the spool lives in a temporary directory,
/// and the two lines that touch the process-wide `LoggingSystem` (tests never bootstrap it)
/// become `Logger(label:factory:)`, which builds the logger the bootstrap would.
func swiftLogExample(spoolPath: String) async throws {
    let store = try SpoolStore(path: spoolPath)  // app: let store = try SpoolStore(path: "myapp.spool")  // on a server: /var/lib/myapp/myapp.spool
    let spool = SpoolLogger(topic: "myapp", handlers: [SpoolStoreHandler(store), ConsoleHandler()])
    let factory = SpoolLogHandler.factory(spool)  // app: LoggingSystem.bootstrap(SpoolLogHandler.factory(spool))

    let logger = Logger(label: "myapp.billing", factory: factory)  // app: let logger = Logger(label: "myapp.billing")
    logger.info("charged", metadata: ["order": "8812", "token": "tok_live_abc"])
    logger.spoolChild("refunds").warning("refund pending", metadata: ["order": "8812"])
    await spool.flush()
}

/// The example's bootstrap line and the form with a metadata provider, compiled as written
/// (never called: tests do not bootstrap the process-wide `LoggingSystem`).
func swiftLogBootstrapLinesCompile(spool: SpoolLogger) {
    LoggingSystem.bootstrap(SpoolLogHandler.factory(spool))
    LoggingSystem.bootstrap(SpoolLogHandler.factory(spool), metadataProvider: nil)
}

@Suite struct SwiftLogExampleTests {
    @Test func theDocumentedSwiftLogExampleRunsAndStoresItsEntries() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/logs.spool"
        try await swiftLogExample(spoolPath: path)

        let reader = try Connection(path: path, create: false, readOnly: true)
        #expect(try reader.scalarText("SELECT group_concat(topic || ' ' || level || ' ' || message, '|') FROM entries")
            == "myapp.billing info charged|myapp.billing.refunds warning refund pending")
        let context = try #require(try reader.scalarText("SELECT context FROM entries ORDER BY id LIMIT 1"))
        #expect(context.contains(#""token":"[REDACTED]""#))
        #expect(!context.contains("tok_live_abc"))
    }

    @Test(arguments: ["docs/swift-log-example.md", "README.md"])
    func theDocumentedExampleIsTheCodeThisTestRuns(_ file: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let sourceLines = Set(source.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        // The first block that is compiled (not one marked `<!-- not compiled: … -->`).
        let parts = document.components(separatedBy: "```swift\n")
        let block = parts.indices.dropFirst().first { !(parts[$0 - 1].split(separator: "\n").last ?? "").hasPrefix("<!-- not compiled") }
        let code = try #require(block.flatMap { parts[$0].components(separatedBy: "```").first })
        for line in code.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.isEmpty || line.hasPrefix("import") || line.hasPrefix("@main") || line.hasPrefix("static func main") || line.hasPrefix("struct") || line == "}" { continue }
            #expect(sourceLines.contains(line) || source.contains("// app: " + line + "\n"),
                    "\(file) has a line the test does not run: \(line)")
        }
    }
}
