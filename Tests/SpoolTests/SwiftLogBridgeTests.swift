import Logging
import Spool
import SpoolTesting
import Testing

@Suite struct SwiftLogBridgeTests {
    /// A swift-log `Logger` over a recorder, built with the factory form (never bootstrap in tests).
    private func swiftLogger(
        _ label: String, fixture: FrontFixture, minimumLevel: LogLevel = .trace,
        provider: Logger.MetadataProvider? = nil
    ) -> Logger {
        let spool = fixture.logger(minimumLevel: minimumLevel)
        return Logger(label: label) { label in SpoolLogHandler(label: label, logger: spool, metadataProvider: provider) }
    }

    @Test func theLabelBecomesTheTopicAndTheMessageTheMessage() throws {
        let fixture = FrontFixture()
        let logger = swiftLogger("billing.payments", fixture: fixture)
        logger.info("charged \(42) EUR")
        let entry = try #require(fixture.recorder.entries.first)
        #expect(entry.topic == "billing.payments")
        #expect(entry.message == "charged 42 EUR")
        #expect(entry.timestamp == fixture.clock.now.nanoseconds)
    }

    @Test(arguments: LogLevel.allCases)
    func levelsMapOneToOne(_ level: LogLevel) throws {
        let fixture = FrontFixture()
        let logger = swiftLogger("levels", fixture: fixture)
        logger.log(level: Logger.Level(level), "m")
        #expect(fixture.recorder.entries.map(\.level) == [level])
        #expect(LogLevel(Logger.Level(level)) == level)
        #expect(Logger.Level(level).rawValue == level.rawValue)
    }

    @Test func theHandlerLevelStartsAtTheLoggersMinimumAndFilters() {
        let fixture = FrontFixture()
        var logger = swiftLogger("filter", fixture: fixture, minimumLevel: .warning)
        #expect(logger.logLevel == .warning)
        logger.info("dropped")
        logger.error("kept")
        logger.logLevel = .debug
        logger.debug("kept too")
        #expect(fixture.recorder.entries.map(\.message) == ["kept", "kept too"])
    }

    /// swift-log's order (`StreamLogHandler`): the handler's metadata, then the provider's, then
    /// the call's, later ones winning on equal keys.
    @Test func metadataFromHandlerProviderAndCallBecomesContextLaterOnesWinning() throws {
        let fixture = FrontFixture()
        let provider = Logger.MetadataProvider { ["request_id": "r-42", "layer": "provider", "shared": "provider"] }
        var logger = swiftLogger("api", fixture: fixture, provider: provider)
        logger[metadataKey: "layer"] = "handler"
        logger[metadataKey: "shared"] = "handler"
        logger[metadataKey: "tags"] = ["a", "b"]
        logger.info("served", metadata: ["shared": "call", "status": "\(200)", "nested": ["k": ["v"]]])

        let context = try #require(fixture.recorder.entries.first?.context)
        #expect(context["request_id"] == "r-42")
        #expect(context["layer"] == "provider")
        #expect(context["shared"] == "call")
        #expect(context["status"] == "200")
        #expect(context["tags"] == ["a", "b"])
        #expect(context["nested"] == ["k": ["v"]])
        let origin = try #require(context[SpoolLogHandler.originKey]?.objectValue)
        #expect(origin["module"] == "SpoolTests")
        #expect(origin["file"] == "SpoolTests/SwiftLogBridgeTests.swift")
        #expect(origin["function"]?.description.contains("metadataFromHandlerProvider") == true)
        if case .int(let line)? = origin["line"] { #expect(line > 0) } else { Issue.record("no line in \(origin)") }
    }

    @Test func anEventsErrorIsKeptInTheContext() throws {
        let fixture = FrontFixture()
        let logger = swiftLogger("api", fixture: fixture)
        logger.error("upload failed", error: HandlerBroke(reason: "timeout"))
        let context = try #require(fixture.recorder.entries.first?.context)
        #expect(context["error"]?.objectValue?["message"] == "timeout")
    }

    @Test func swiftLogMetadataIsRedactedLikeAnyContext() {
        let fixture = FrontFixture()
        let logger = swiftLogger("auth", fixture: fixture)
        logger.info("login", metadata: ["user": "ada", "password": "hunter2", "headers": ["Cookie": "sid=1"]])
        let context = fixture.recorder.entries.first?.context
        #expect(context?["password"] == "[REDACTED]")
        #expect(context?["headers"] == ["Cookie": "[REDACTED]"])
        #expect(context?["user"] == "ada")
    }

    @Test func aChildLoggerExtendsTheTopicAndKeepsLevelAndMetadata() {
        let fixture = FrontFixture()
        var pipeline = swiftLogger("dsp.pipeline", fixture: fixture)
        pipeline.logLevel = .notice
        pipeline[metadataKey: "run"] = "7"
        let filter = pipeline.spoolChild("filter")
        let biquad = filter.spoolChild("biquad")
        filter.info("below notice")
        filter.notice("ready")
        biquad.warning("unstable")
        #expect(filter.label == "dsp.pipeline.filter")
        #expect(fixture.recorder.entries.map(\.topic) == ["dsp.pipeline.filter", "dsp.pipeline.filter.biquad"])
        #expect(fixture.recorder.entries.allSatisfy { $0.context?["run"] == "7" })
    }

    @Test func aChildOfAnotherHandlersLoggerExtendsOnlyTheLabel() {
        let logger = Logger(label: "plain") { _ in SwiftLogNoOpLogHandler() }
        let child = logger.spoolChild("sub")
        #expect(child.label == "plain.sub")
        #expect(child.handler is SwiftLogNoOpLogHandler)
    }

    @Test func messagesBelowTheHandlerLevelAreNotEvaluated() {
        let fixture = FrontFixture()
        let evaluations = Evaluations()
        var logger = swiftLogger("lazy", fixture: fixture)
        logger.logLevel = .error
        logger.debug("\(evaluations.message("expensive"))")
        #expect(evaluations.value == 0)
    }
}
