import Spool
import SpoolTesting
import Synchronization
import Testing

@Suite struct FrontAsyncHandlerTests {
    @Test func asyncEntriesAreProcessedInOrderAndFlushWaitsForAllOfThem() async {
        let processed = Mutex<[String]>([])
        let handler = AsyncClosureHandler { entry in
            await Task.yield()
            processed.withLock { $0.append(entry.message) }
        }
        let log = SpoolLogger(handlers: [handler])
        for index in 0..<500 { log.info("\(index)") }
        await log.flush()
        #expect(processed.withLock { $0 } == (0..<500).map(String.init))
        #expect(handler.overflowCount == 0)
    }

    @Test func logReturnsWithoutWaitingForTheAsyncClosure() async {
        let gate = AsyncGate()
        let processed = Atomic<Int>(0)
        let handler = AsyncClosureHandler { _ in
            await gate.wait()
            processed.add(1, ordering: .relaxed)
        }
        let log = SpoolLogger(handlers: [handler])
        log.info("queued")  // would never return if it waited for the gate
        #expect(processed.load(ordering: .relaxed) == 0)
        gate.open()
        await handler.flush()
        #expect(processed.load(ordering: .relaxed) == 1)
    }

    @Test func aFullQueueDropsAndCountsNewEntries() async {
        let gate = AsyncGate()
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let processed = Mutex<[String]>([])
        let handler = AsyncClosureHandler(capacity: 4) { entry in
            startedContinuation.yield()
            await gate.wait()
            processed.withLock { $0.append(entry.message) }
        }
        let log = SpoolLogger(handlers: [handler])
        log.info("busy")
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()  // the worker holds "busy"; the queue is empty
        for index in 1...7 { log.info("\(index)") }
        #expect(handler.overflowCount == 3)
        gate.open()
        await log.flush()
        #expect(processed.withLock { $0 } == ["busy", "1", "2", "3", "4"])
    }

    @Test func anAsyncClosureFailureReachesTheFallback() async throws {
        let fixture = FrontFixture()
        let handler = AsyncClosureHandler { entry in
            if entry.message == "bad" { throw HandlerBroke(reason: "webhook 500") }
        }
        let log = SpoolLogger(handlers: [handler, fixture.recorder], configuration: fixture.configuration())
        log.info("good")
        log.info("bad")
        await log.flush()
        let report = try #require(fixture.fallback.entries.first)
        #expect(fixture.fallback.entries.count == 1)
        #expect(report.topic == "logger.handler.error")
        #expect(report.context?["handler"] == "AsyncClosureHandler")
        #expect(report.context?["entry"]?.objectValue?["message"] == "bad")
        #expect(log.statistics.handlerFailures == 1)
    }

    @Test func synchronousAndAsynchronousHandlersMixInOneLogger() async {
        let asyncSeen = Mutex<[String]>([])
        let asyncHandler = AsyncClosureHandler { entry in asyncSeen.withLock { $0.append(entry.message) } }
        let syncRecorder = RecordingHandler()
        let log = SpoolLogger(handlers: [syncRecorder, asyncHandler])
        log.info("a")
        #expect(syncRecorder.entries.map(\.message) == ["a"])  // synchronous: already there
        log.error("b")
        await log.flush()
        #expect(syncRecorder.entries.map(\.message) == ["a", "b"])
        #expect(asyncSeen.withLock { $0 } == ["a", "b"])
    }

    @Test func flushWithNothingQueuedReturnsAtOnce() async {
        let handler = AsyncClosureHandler { _ in }
        await handler.flush()
        #expect(handler.overflowCount == 0)
    }
}
