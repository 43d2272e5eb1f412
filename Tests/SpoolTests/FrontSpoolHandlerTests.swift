import Spool
import SpoolTesting
import Testing
@testable import Spool

@Suite struct FrontSpoolHandlerTests {
    @Test func inCommittedModeAnEntryIsOnDiskWhenLogReturns() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/app.spool"
        let fixture = FrontFixture()
        var storeConfiguration = SpoolStore.Configuration(durability: .committed)
        storeConfiguration.clock = fixture.clock
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        let log = SpoolLogger(topic: "billing", handlers: [SpoolStoreHandler(store)], configuration: fixture.configuration())

        log.error("payment declined", topic: "payment", context: ["order": 8812, "token": "tok_live"])

        // A second connection sees the row: it was committed before `log` returned.
        let reader = try Connection(path: path, create: false, readOnly: true)
        #expect(try reader.scalarInt("SELECT count(*) FROM entries") == 1)
        #expect(try reader.scalarText("SELECT topic || ' ' || level || ' ' || message FROM entries") == "billing.payment error payment declined")
        #expect(try reader.scalarText("SELECT context FROM entries") == #"{"order":8812,"token":"[REDACTED]"}"#)
        #expect(try reader.scalarInt("SELECT ts_ns FROM entries") == fixture.clock.now.nanoseconds)
    }

    @Test func inBufferedModeFlushCommitsWhatIsWaiting() async throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/buffered.spool"
        var storeConfiguration = SpoolStore.Configuration(durability: .buffered(maxDelay: .seconds(3600)))
        storeConfiguration.clock = ManualClock()
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        let log = SpoolLogger(handlers: [SpoolStoreHandler(store)])
        for index in 0..<3 { log.info("\(index)") }
        #expect(store.uncommittedCount == 3)
        await log.flush()
        #expect(store.uncommittedCount == 0)
        let reader = try Connection(path: path, create: false, readOnly: true)
        #expect(try reader.scalarInt("SELECT count(*) FROM entries") == 3)
    }

    @Test func aClosedSpoolIsReportedAndTheOtherHandlersCarryOn() throws {
        let directory = TemporaryDirectory()
        let fixture = FrontFixture()
        let store = try SpoolStore(path: directory.path + "/closed.spool")
        try store.close()
        let log = SpoolLogger(handlers: [SpoolStoreHandler(store), fixture.recorder], configuration: fixture.configuration())
        log.critical("still visible")
        #expect(fixture.recorder.entries.map(\.message) == ["still visible"])
        let report = try #require(fixture.fallback.entries.first?.context)
        #expect(report["handler"] == "SpoolStoreHandler")
        #expect(report["error"]?.objectValue?["code"] == "closed")
    }
}
