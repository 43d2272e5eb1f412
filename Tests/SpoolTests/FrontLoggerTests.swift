import Spool
import SpoolTesting
import Testing

@Suite struct FrontLoggerTests {
    @Test func anEntryReachesTheHandlerWithItsLevelTopicMessageAndContext() {
        let fixture = FrontFixture()
        let log = fixture.logger(topic: "billing")
        log.info("charged", context: ["order": 8812, "retryable": false])
        #expect(fixture.recorder.entries == [LogEntry(
            timestamp: fixture.clock.now.nanoseconds, level: .info, topic: "billing",
            message: "charged", context: ["order": 8812, "retryable": false])])
        #expect(fixture.recorder.entries.first?.schema == "spool/log/v1")
    }

    @Test func everyHandlerReceivesEveryEntryInOrder() {
        let fixture = FrontFixture()
        let first = RecordingHandler()
        let second = RecordingHandler()
        let log = fixture.logger(extra: [first, second])
        log.info("one")
        log.warning("two")
        for handler in [first, second, fixture.recorder] {
            #expect(handler.entries.map(\.message) == ["one", "two"])
        }
    }

    @Test(arguments: LogLevel.allCases)
    func eachLevelMethodLogsAtItsLevel(_ level: LogLevel) {
        let fixture = FrontFixture()
        let log = fixture.logger()
        switch level {
        case .trace: log.trace("m")
        case .debug: log.debug("m")
        case .info: log.info("m")
        case .notice: log.notice("m")
        case .warning: log.warning("m")
        case .error: log.error("m")
        case .critical: log.critical("m")
        }
        log.log(level, "generic")
        #expect(fixture.recorder.entries.map(\.level) == [level, level])
    }

    @Test func entriesBelowTheMinimumLevelAreDiscarded() {
        let fixture = FrontFixture()
        let log = fixture.logger(minimumLevel: .warning)
        for level in LogLevel.allCases { log.log(level, "\(level)") }
        #expect(fixture.recorder.entries.map(\.level) == [.warning, .error, .critical])
    }

    @Test func timestampsComeFromTheInjectedClock() {
        let fixture = FrontFixture()
        let log = fixture.logger()
        let start = fixture.clock.now.nanoseconds
        log.info("first")
        fixture.clock.advance(by: .milliseconds(1500))
        log.info("second")
        #expect(fixture.recorder.entries.map(\.timestamp) == [start, start + 1_500_000_000])
    }

    @Test func theRootTopicDefaultsToAppAndACallWithoutTopicUsesTheLoggersOwn() {
        let recorder = RecordingHandler()
        let log = SpoolLogger(handlers: [recorder])
        log.info("no topic")
        log.info("with topic", topic: "startup")
        #expect(log.topic == "app")
        #expect(recorder.entries.map(\.topic) == ["app", "app.startup"])
    }

    @Test func childLoggersPrefixTheirTopicsAtEveryDepth() {
        let fixture = FrontFixture()
        let pipeline = fixture.logger(topic: "dsp.pipeline")
        let filter = pipeline.child("filter")
        let biquad = filter.child("biquad")
        filter.info("ready")
        filter.info("coefficients", topic: "init")
        biquad.info("stable")
        pipeline.info("running")
        #expect(fixture.recorder.entries.map(\.topic) == [
            "dsp.pipeline.filter", "dsp.pipeline.filter.init", "dsp.pipeline.filter.biquad", "dsp.pipeline",
        ])
    }

    @Test func aChildInheritsTheMinimumLevelButChangingItStaysLocal() {
        let fixture = FrontFixture()
        var parent = fixture.logger(minimumLevel: .notice)
        var child = parent.child("worker")
        #expect(child.minimumLevel == .notice)
        child.minimumLevel = .debug
        parent.minimumLevel = .error
        child.debug("child debug")
        parent.warning("parent warning")
        #expect(fixture.recorder.entries.map(\.message) == ["child debug"])
    }

    @Test func complexNestedContextArrivesIntact() {
        let fixture = FrontFixture()
        let log = fixture.logger()
        let context: [String: JSONValue] = [
            "request": ["id": "r-1", "headers": ["accept": "json"], "sizes": [1, 2.5, nil, true]],
            "matrix": [[1, 2], [3, ["deep": ["deeper": "x"]]]],
            "nan": .double(.nan),
        ]
        log.notice("nested", context: context)
        let entry = try! #require(fixture.recorder.entries.first)
        #expect(entry.context?["request"] == context["request"])
        #expect(entry.context?["matrix"] == context["matrix"])
        #expect(EntryJSON.line(entry).contains(#""nan":"NaN""#))
    }

    @Test func messageAndContextAreNotEvaluatedBelowTheMinimumLevel() {
        let fixture = FrontFixture()
        let evaluations = Evaluations()
        let log = fixture.logger(minimumLevel: .info)
        log.debug(evaluations.message("expensive"), context: evaluations.context())
        log.trace(evaluations.message("expensive"), topic: "t", context: evaluations.context())
        #expect(evaluations.value == 0)
        log.info(evaluations.message("kept"), context: evaluations.context())
        #expect(evaluations.value == 2)
    }

    @Test func copiesOfALoggerShareOnePipeline() async {
        let fixture = FrontFixture()
        let log = fixture.logger()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask { for index in 0..<50 { log.child("t\(task)").info("\(index)") } }
            }
        }
        #expect(fixture.recorder.entries.count == 400)
    }
}
