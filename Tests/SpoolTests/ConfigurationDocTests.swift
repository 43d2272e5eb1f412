import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// docs/configuration.md cannot drift: its example loads, and its key tables name exactly the
/// keys the loader knows.
@Suite struct ConfigurationDocTests {
    static let document: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)) ?? ""
    }()

    static func blocks(_ language: String) -> [String] {
        var blocks: [String] = []
        var current: [String]?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```\(language)" { current = [] } else if line == "```", let block = current {
                blocks.append(block.joined(separator: "\n"))
                current = nil
            } else if current != nil { current!.append(String(line)) }
        }
        return blocks
    }

    @Test func theExampleOfTheDocumentLoadsAndMakesItsSinks() throws {
        let examples = Self.blocks("yaml")
        try #require(examples.count == 1)
        let configuration = try SpoolConfiguration(yaml: examples[0])
        #expect(configuration.spoolPath == "/var/lib/billing/billing.spool")
        #expect(configuration.store.durability == .buffered(maxDelay: .milliseconds(200)))
        #expect(configuration.store.maximumBytes == 2 << 30)
        #expect(configuration.redaction.keys == Redaction.defaultKeys + ["session_id", "card_number"])
        #expect(configuration.ingest == .init(format: .json, topic: "billing", fields: .init(message: ["text"])))
        #expect(configuration.metrics.address?.description == "127.0.0.1:9464" && configuration.metrics.unhealthyAfter == .seconds(120))
        #expect(configuration.sinks.map(\.destination.typeName) == ["loki", "http", "otlp", "pagerduty", "pushgateway", "console"])
        let environment = ["LOKI_PASSWORD": "p", "OTEL_TOKEN": "t"]
        let readFile: (String) throws(SpoolError) -> [UInt8] = { _ throws(SpoolError) in Array("secret\n".utf8) }
        try configuration.checkSinks(environment: environment, readFile: readFile)
        let directory = TemporaryDirectory()
        let store = try SpoolStore(path: directory.file("doc.spool"))
        defer { try? store.close() }
        let resolved = try configuration.makeSinks(store: store, environment: environment, readFile: readFile)
        #expect(resolved.map(\.scheduling.name) == ["loki", "archive", "otel", "pager", "metrics", "replay"])
        #expect(resolved.map { $0.companion != nil } == [false, false, false, false, true, false])
    }

    /// Every key in a table's first column (`` `name` ``, dotted for nested ones) is a key the
    /// loader knows, and every key the loader knows is in a table.
    @Test func theKeyTablesListExactlyTheKnownKeys() {
        var documented: Set<String> = []
        for line in Self.document.split(separator: "\n") where line.hasPrefix("| `") {
            let cell = line.dropFirst(2).prefix { $0 != "|" }
            for part in cell.split(separator: ",") {
                for name in part.split(separator: "/") {
                    let key = name.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                    if let last = key.split(separator: ".").last { documented.insert(String(last)) }
                }
            }
        }
        typealias R = ConfigurationReader
        var known = Set(R.topLevelKeys + R.spoolKeys + R.redactionKeys + R.ingestKeys + R.ingestFieldKeys + R.transportKeys + R.commonSinkKeys + R.metricsKeys)
        known.formUnion(R.typeSinkKeys.values.flatMap { $0 })
        known.formUnion(R.rateLimitKeys + R.breakerKeys + R.retryKeys)
        known.formUnion(R.basicKeys.filter { $0 == "username" } + ["basic", "bearer", "headers"])
        // Secret sources are documented in the Secrets table rather than the key tables.
        let secretForms: Set = ["routing_key_env", "routing_key_file", "password_env", "password_file", "token_env", "token_file", "env", "file"]
        let undocumented = known.subtracting(documented).subtracting(secretForms).subtracting(["credentials", "rate_limit", "breaker", "retry"])
        #expect(undocumented.isEmpty, "not in docs/configuration.md: \(undocumented.sorted())")
        let unknown = documented.subtracting(known).subtracting(["routing_key_env / routing_key_file", "<Name>"])
        #expect(unknown.isEmpty, "documented but unknown to the loader: \(unknown.sorted())")
    }
}
