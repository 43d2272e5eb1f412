import Foundation
import Spool
import SpoolTesting
import Synchronization
import Testing

@Suite struct FrontHandlerTests {
    @Test func aThrowingHandlerDoesNotStopTheOthers() {
        let fixture = FrontFixture()
        let after = RecordingHandler()
        let failing = ClosureHandler { _ in throw HandlerBroke() }
        let log = SpoolLogger(handlers: [fixture.recorder, failing, after], configuration: fixture.configuration())
        log.error("still delivered")
        log.info("and again")
        #expect(fixture.recorder.entries.map(\.message) == ["still delivered", "and again"])
        #expect(after.entries.map(\.message) == ["still delivered", "and again"])
        #expect(log.statistics.handlerFailures == 2)
    }

    @Test func aHandlerFailureReachesTheFallbackAsAStructuredErrorEntry() throws {
        let fixture = FrontFixture()
        let failing = ClosureHandler { _ in throw HandlerBroke(reason: "loki said 503") }
        let log = SpoolLogger(topic: "api", handlers: [failing], configuration: fixture.configuration())
        log.warning("upstream slow", topic: "proxy", context: ["ms": 812])

        let report = try #require(fixture.fallback.entries.first)
        #expect(fixture.fallback.entries.count == 1)
        #expect(report.level == .error)
        #expect(report.topic == "logger.handler.error")
        #expect(report.timestamp == fixture.clock.now.nanoseconds)
        let context = try #require(report.context)
        #expect(context["handler"] == "ClosureHandler")
        #expect(context["error"] == ["type": .string(String(reflecting: HandlerBroke.self)), "message": "loki said 503"])
        #expect(context["entry"] == [
            "schema": "spool/log/v1", "ts_ns": .int(fixture.clock.now.nanoseconds), "level": "warning",
            "topic": "api.proxy", "message": "upstream slow", "context": ["ms": 812],
        ])
        guard case .array(let frames)? = context["stack"] else {
            Issue.record("no stack in \(context)")
            return
        }
        #expect(!frames.isEmpty)
    }

    /// A handler failing on every entry is reported once per interval (by the injected clock),
    /// and the next report says how many failures were held back.
    @Test func failureReportsOfAFailingHandlerAreRateLimited() throws {
        let fixture = FrontFixture()
        let failing = ClosureHandler { _ in throw HandlerBroke(reason: "disk full") }
        let log = SpoolLogger(handlers: [failing], configuration: fixture.configuration())
        for number in 1...5 { log.error("entry \(number)") }
        #expect(fixture.fallback.entries.count == 1)
        fixture.clock.advance(by: .milliseconds(999))
        log.error("entry 6")
        #expect(fixture.fallback.entries.count == 1)
        fixture.clock.advance(by: .milliseconds(1))
        log.error("entry 7")
        let reports = fixture.fallback.entries
        try #require(reports.count == 2)
        #expect(reports[0].context?["suppressed"] == nil)
        #expect(reports[1].context?["suppressed"] == 5)
        #expect(reports[1].message.hasSuffix("(5 more failures of this handler since the last report were held back)"))
        #expect(log.statistics.handlerFailures == 7)
    }

    @Test func aSpoolErrorCarriesItsCodeIntoTheReport() throws {
        let fixture = FrontFixture()
        let failing = ClosureHandler { _ in throw SpoolError(.diskFull, "disk full") }
        var configuration = fixture.configuration()
        configuration.captureStack = false
        let log = SpoolLogger(handlers: [failing], configuration: configuration)
        log.error("x")
        let report = try #require(fixture.fallback.entries.first?.context)
        #expect(report["error"]?.objectValue?["code"] == "diskFull")
        #expect(report["stack"] == nil)
    }

    @Test func aFallbackThatThrowsNeitherRecursesNorCrashes() {
        let fallbackCalls = Atomic<Int>(0)
        var configuration = SpoolLogger.Configuration()
        configuration.captureStack = false
        configuration.failureReportInterval = .zero  // every failure reaches the fallback
        configuration.fallback = ClosureHandler { _ in
            fallbackCalls.add(1, ordering: .relaxed)
            throw HandlerBroke(reason: "fallback broken too")
        }
        let survivor = RecordingHandler()
        let log = SpoolLogger(handlers: [ClosureHandler { _ in throw HandlerBroke() }, survivor], configuration: configuration)
        log.error("first")
        log.error("second")
        #expect(fallbackCalls.load(ordering: .relaxed) == 2)
        #expect(survivor.entries.count == 2)
    }

    @Test func aFallbackLoggingThroughTheFailingLoggerIsNotCalledAgain() {
        let fallbackCalls = Atomic<Int>(0)
        let recorder = RecordingHandler()
        let loop = Mutex<SpoolLogger?>(nil)
        var configuration = SpoolLogger.Configuration()
        configuration.captureStack = false
        configuration.fallback = ClosureHandler { report in
            fallbackCalls.add(1, ordering: .relaxed)
            // A careless fallback: logs the report through the logger whose handler fails.
            loop.withLock { $0 }?.error(report.message)
        }
        let log = SpoolLogger(handlers: [ClosureHandler { _ in throw HandlerBroke() }, recorder], configuration: configuration)
        loop.withLock { $0 = log }
        log.error("trigger")
        #expect(fallbackCalls.load(ordering: .relaxed) == 1)
        #expect(recorder.entries.count == 2)  // the entry, then the report logged by the fallback
        #expect(log.statistics.handlerFailures == 2)
    }

    @Test func synchronousHandlersHaveRunWhenLogReturns() {
        let seen = Mutex<[String]>([])
        let handler = ClosureHandler { entry in seen.withLock { $0.append(entry.message) } }
        let log = SpoolLogger(handlers: [handler])
        log.info("a")
        #expect(seen.withLock { $0 } == ["a"])
        log.info("b")
        #expect(seen.withLock { $0 } == ["a", "b"])
    }

    @Test func theRecordingHandlerCallsBackPerEntryAndForgetsOnClear() {
        let callbacks = Mutex<[String]>([])
        let recorder = RecordingHandler { entry in callbacks.withLock { $0.append(entry.message) } }
        let log = SpoolLogger(handlers: [recorder])
        log.info("one")
        log.error("two")
        #expect(callbacks.withLock { $0 } == ["one", "two"])
        #expect(recorder.entries.count == 2)
        recorder.clear()
        #expect(recorder.entries.isEmpty)
        log.info("three")
        #expect(recorder.entries.map(\.message) == ["three"])
        #expect(callbacks.withLock { $0 } == ["one", "two", "three"])
    }

    @Test func theConsoleWritesJSONLinesWhenTheOutputIsNotATerminal() throws {
        let entry = LogEntry(timestamp: 1_732_873_200_123_000_000, level: .warning, topic: "worker", message: "filling up", context: ["depth": 912])
        let output = try consoleOutput(.automatic) { try $0.handle(entry) }
        #expect(output.format == .json)
        #expect(output.text == EntryJSON.line(entry) + "\n")
    }

    @Test func theHumanConsoleLineShowsTimeLevelTopicMessageAndContext() throws {
        let entry = LogEntry(timestamp: 1_732_873_200_123_000_000, level: .warning, topic: "worker", message: "filling up", context: ["depth": 912])
        let plain = try consoleOutput(.human(colour: false)) { try $0.handle(entry) }
        #expect(plain.text == #"2024-11-29T09:40:00.123Z WARNING worker: filling up {"depth":912}"# + "\n")
        let coloured = try consoleOutput(.human(colour: true)) { try $0.handle(entry) }
        #expect(coloured.text.contains("\u{1B}[33mWARNING\u{1B}[0m worker"))
    }

    /// What a console handler writes into a pipe.
    private func consoleOutput(_ format: ConsoleHandler.Format, _ body: (ConsoleHandler) throws -> Void) throws -> (format: ConsoleHandler.Format, text: String) {
        var pipe: [Int32] = [0, 0]
        try #require(Foundation.pipe(&pipe) == 0)
        defer { close(pipe[0]) }
        let console = ConsoleHandler(format: format, fileDescriptor: pipe[1])
        try body(console)
        close(pipe[1])
        return (console.format, String(decoding: FileHandle(fileDescriptor: pipe[0]).readDataToEndOfFile(), as: UTF8.self))
    }

    @Test func aConsoleWriteFailureIsReportedAsAnIOError() throws {
        var pipe: [Int32] = [0, 0]
        #expect(Foundation.pipe(&pipe) == 0)
        close(pipe[0])
        defer { close(pipe[1]) }
        signal(SIGPIPE, SIG_IGN)
        let console = ConsoleHandler(format: .json, fileDescriptor: pipe[1])
        #expect { try console.handle(LogEntry(timestamp: 1, level: .info, topic: "t", message: "m")) } throws: { error in
            (error as? SpoolError)?.code == .io
        }
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }
}
