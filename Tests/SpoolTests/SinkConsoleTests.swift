import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// The console sink: the logging front's console lines, replayed from the spool.
@Suite struct SinkConsoleTests {
    let directory = TemporaryDirectory()

    /// Runs a scheduler with a console sink writing into a pipe until the spool is empty;
    /// returns what it wrote.
    func replay(_ entries: [LogEntry], format: ConsoleHandler.Format) async throws -> String {
        var pipe: [Int32] = [0, 0]
        try #require(Foundation.pipe(&pipe) == 0)
        defer { close(pipe[0]) }
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        let store = try SpoolStore(path: directory.file("console.spool"), configuration: configuration)
        try store.append(contentsOf: entries)
        let transport = Transport()
        var schedule = SinkScheduler.Configuration(name: "console")
        schedule.maxBatchEntries = 2
        schedule.maxBatchWait = .zero
        let sink = ConsoleSink(configuration: .init(format: format, stream: .fileDescriptor(pipe[1])))
        let reports = Reports()
        try await SinkScheduler(store: store, sink: sink, transport: transport, configuration: schedule, owner: "test", report: reports.record)
            .run(until: .empty)
        try await transport.shutdown()
        close(pipe[1])
        #expect(try store.stats().entries == 0)
        #expect(reports.all.isEmpty)
        return String(decoding: FileHandle(fileDescriptor: pipe[0]).readDataToEndOfFile(), as: UTF8.self)
    }

    static let entries = [
        LogEntry(timestamp: 1_732_873_200_123_000_000, level: .warning, topic: "worker", message: "filling up", context: ["depth": 912]),
        LogEntry(timestamp: 1_732_873_201_000_000_000, level: .error, topic: "billing.payment", message: "payment declined"),
        LogEntry(timestamp: 1_732_873_202_000_000_000, level: .info, topic: "app", message: "done"),
    ]

    @Test func humanLinesAreTheConsoleHandlersLinesInOrder() async throws {
        let text = try await replay(Self.entries, format: .human(colour: false))
        #expect(text == """
            2024-11-29T09:40:00.123Z WARNING worker: filling up {"depth":912}
            2024-11-29T09:40:01.000Z ERROR billing.payment: payment declined
            2024-11-29T09:40:02.000Z INFO app: done

            """)
    }

    @Test func jsonLinesCarryTheSpoolID() async throws {
        let text = try await replay(Self.entries, format: .json)
        let lines = text.split(separator: "\n").map(String.init)
        try #require(lines.count == 3)
        #expect(lines[1] == #"{"schema":"spool/log/v1","id":2,"ts":"2024-11-29T09:40:01.000Z","ts_ns":1732873201000000000,"level":"error","topic":"billing.payment","message":"payment declined"}"#)
    }

    @Test func theHandlerAndTheSinkShareOneFormatter() throws {
        let entry = Self.entries[0]
        let stored = StoredEntry(id: 7, timestamp: entry.timestamp, level: entry.level, topic: entry.topic, message: entry.message,
                                 contextJSON: #"{"depth":912}"#, schema: LogEntry.currentSchema)
        for format in [ConsoleHandler.Format.human(colour: true), .human(colour: false)] {
            let handler = ConsoleHandler(format: format, fileDescriptor: 2)
            let sink = ConsoleSink(configuration: .init(format: format, stream: .standardError))
            #expect(handler.formatter.line(entry) == sink.formatter.line(stored))
        }
    }

    @Test func aFailedWritePausesTheSinkAndAcknowledgesNothing() async throws {
        // -1 is never open (a closed descriptor's number could be reused by a test running in
        // parallel, and the write would then succeed).
        let descriptor: Int32 = -1
        let sink = ConsoleSink(configuration: .init(format: .json, stream: .fileDescriptor(descriptor)))
        let verdict = await sink.deliver([SinkFixtures.entry()], sink: "console")
        guard case .misconfigured(let reason) = verdict else {
            Issue.record("expected misconfigured, got \(verdict)")
            return
        }
        #expect(reason.contains("file descriptor \(descriptor)"))
    }
}
