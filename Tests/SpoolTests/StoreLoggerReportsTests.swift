import Foundation
import Logging
import SpoolTestServer
import Synchronization
import Testing
@testable import Spool
@testable import SpoolForwarding

/// What a swift-log handler was given, for assertions.
final class RecordedLogs: Sendable {
    struct Event: Sendable {
        var label: String
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let events = Mutex<[Event]>([])
    var all: [Event] { events.withLock { $0 } }
    func record(_ event: Event) { events.withLock { $0.append(event) } }

    /// A `Logger` whose every call is recorded.
    func logger(_ label: String) -> Logger {
        Logger(label: label) { label in Handler(label: label, logs: self) }
    }

    private struct Handler: LogHandler {
        let label: String
        let logs: RecordedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            logs.record(Event(label: label, level: event.level, message: event.message.description,
                              metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
        }
    }
}

/// The spool a handler appends to, set once the spool is open: what a logger needs that feeds
/// the very spool it is the ``SpoolStore/Configuration/logger`` of.
final class LateStore: Sendable {
    private let store = Mutex<SpoolStore?>(nil)
    func set(_ spool: SpoolStore) { store.withLock { $0 = spool } }
    /// The real durable handler, over the spool once it is set.
    var handler: ClosureHandler {
        ClosureHandler { entry in
            guard let spool = self.store.withLock({ $0 }) else { return }
            try SpoolStoreHandler(spool).handle(entry)
        }
    }
}

@Suite struct StoreLoggerReportsTests {
    let directory = TemporaryDirectory()

    func boundedConfiguration(_ policy: SpoolStore.OverflowPolicy) -> SpoolStore.Configuration {
        var configuration = SpoolStore.Configuration()
        configuration.maximumBytes = SpoolStore.Configuration.minimumMaximumBytes
        configuration.overflowPolicy = policy
        return configuration
    }

    @Test func theStoreReportsToTheGivenLoggerWithLevelMessageTopicAndContext() throws {
        let logs = RecordedLogs()
        let fallback = Reports()
        var configuration = boundedConfiguration(.dropOldest)
        configuration.logger = logs.logger("myapp.spool")
        configuration.report = fallback.record
        let path = directory.file("reports.spool")
        let store = try SpoolStore(path: path, configuration: configuration)
        for batch in 0..<20 {
            try store.append(contentsOf: (0..<100).map { entry(batch * 100 + $0, message: String(repeating: "x", count: 500)) })
        }

        let drops = logs.all.filter { $0.metadata["topic"] == "spool.store.dropped" }
        let first = try #require(drops.first, "no drop reached the logger: \(logs.all.map(\.message))")
        #expect(first.label == "myapp.spool")
        #expect(first.level == .warning)
        #expect(first.message.hasPrefix("the spool reached its size bound"))
        #expect(first.metadata["path"] == .string(path))
        #expect(first.metadata["reason"] == "overflow:dropOldest")
        let counted = drops.compactMap { $0.metadata["count"].flatMap { Int("\($0)") } }.reduce(0, +)
        #expect(counted == store.droppedSinceOpen["overflow:dropOldest"])
        #expect(fallback.all.isEmpty, "with a logger nothing goes to stderr: \(fallback.topics())")
    }

    /// A store whose ``SpoolStore/Configuration/logger`` feeds the store itself
    /// (`SpoolLogHandler` → `SpoolLogger` → `SpoolStoreHandler`): the loop the option invites.
    func storeReportingIntoItself(_ policy: SpoolStore.OverflowPolicy, fallback: Reports, path: String) throws -> SpoolStore {
        let late = LateStore()
        var configuration = boundedConfiguration(policy)
        let pipeline = SpoolLogger(topic: "app", handlers: [late.handler])
        configuration.logger = Logger(label: "myapp.spool") { SpoolLogHandler(label: $0, logger: pipeline) }
        configuration.report = fallback.record
        let store = try SpoolStore(path: path, configuration: configuration)
        late.set(store)
        return store
    }

    /// The spool is full (`dropNewest`: the bound is measured in whole pages, so once no page
    /// is left nothing fits, a report's entry included). An append is dropped and reported;
    /// appending the report to the spool drops it too, which is reported again: that report
    /// goes to the fallback (stderr by default), not back to the logger, so the append
    /// returns: no recursion, no deadlock.
    @Test func aReportCausedWhileOneIsLoggedGoesToStderrNotBackToTheLogger() throws {
        let fallback = Reports()
        let store = try storeReportingIntoItself(.dropNewest, fallback: fallback, path: directory.file("loop.spool"))
        var appended = 0
        while store.droppedSinceOpen.isEmpty && appended < 20_000 {
            try store.append(entry(appended, message: String(repeating: "x", count: 500)))
            appended += 1
        }
        // With a logger, only a report caused while another is being logged reaches the fallback:
        // the drop of the first drop's report. The app's drop went to the logger.
        #expect(fallback.all.map(\.topic) == ["spool.store.dropped"])
        #expect(fallback.all.first?.context?["count"] == 1)
        #expect(store.droppedSinceOpen == ["overflow:dropNewest": 2])
    }

    /// `dropOldest` frees a tenth of the bound at a time, so a drop's report finds room: it is
    /// stored in the spool it reports on, and the spool keeps working.
    @Test func dropReportsOfASpoolFeedingItselfAreStoredInIt() throws {
        let fallback = Reports()
        let path = directory.file("loop.spool")
        let store = try storeReportingIntoItself(.dropOldest, fallback: fallback, path: path)
        for index in 0..<2000 {
            try store.append(entry(index, message: String(repeating: "x", count: 500)))
        }
        let sql = try SQL(path)
        let stored = try sql.int("SELECT count(*) FROM entries WHERE topic = 'myapp.spool' AND json_extract(context, '$.topic') = 'spool.store.dropped'") ?? 0
        #expect(stored > 0)
        #expect(try sql.int("SELECT max(id) FROM entries WHERE topic = 'test'") != nil)
    }

    @Test func aForwarderReportsWhereItsStoreDoes() async throws {
        try await TestHTTPServer.withServer(behaviour: .rejectEntries(containing: "POISON", status: 400, otherwise: .ok())) { server in
            let logs = RecordedLogs()
            var configuration = try SpoolConfiguration(yaml: """
                spool: {path: "\(directory.file("forward.spool"))"}
                sinks:
                  out: {type: http, url: "\(server.url(path: "/in"))", batch_size: 1}
                """)
            configuration.store.logger = logs.logger("myapp.spool")
            let store = try configuration.openStore()
            try store.append(contentsOf: [entry(1, message: "fine"), entry(2, message: "POISON")])
            let forwarder = try configuration.makeForwarder(store: store, name: "test", environment: [:])
            try await forwarder.run(until: .empty)
            try await forwarder.transport.shutdown()

            let deadLetter = try #require(logs.all.first { $0.metadata["topic"] == "spool.forward.dead_letter" },
                                          "\(logs.all.map { $0.metadata["topic"] ?? "-" })")
            #expect(deadLetter.level == .error)
            #expect(deadLetter.metadata["sink"] == "out")
            #expect(deadLetter.message.contains("rejected entry 2"))
            try store.close()
        }
    }
}
