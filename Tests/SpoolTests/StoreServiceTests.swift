import Logging
import ServiceLifecycle
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// `SpoolStoreService` runs the store's background work in a `ServiceGroup`: it stops on the
/// group's graceful shutdown (which does not cancel services), last when listed first, and
/// commits what buffered mode still holds.
@Suite struct StoreServiceTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    /// Stops at graceful shutdown, saying whether the store's work still ran then.
    final class Companion: Service, Sendable {
        let store: SpoolStore
        let storeRanAtShutdown = Shared<Bool?>(nil)

        init(store: SpoolStore) { self.store = store }

        func run() async throws {
            try? await gracefulShutdown()
            storeRanAtShutdown.update { $0 = store.isRunning }
        }
    }

    @Test func aGracefulShutdownStopsTheStoreLastAndItCommitsWhatWaits() async throws {
        var configuration = SpoolStore.Configuration(durability: .buffered(maxDelay: .seconds(3600)))
        configuration.clock = ManualClock()
        let store = try SpoolStore(path: path, configuration: configuration)
        let companion = Companion(store: store)
        let group = ServiceGroup(services: [SpoolStoreService(store), companion], gracefulShutdownSignals: [],
                                 logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let running = Task { try await group.run() }
        for _ in 0..<100_000 where !store.isRunning { await Task.yield() }
        try #require(store.isRunning)
        try store.append(contentsOf: (1...5).map { entry($0) })
        #expect(store.uncommittedCount == 5)

        await group.triggerGracefulShutdown()
        // Bounded: a store service deaf to graceful shutdown would keep the group waiting.
        for _ in 0..<100_000 where store.isRunning { await Task.yield() }
        #expect(!store.isRunning, "the store's run() outlived the group's graceful shutdown")
        running.cancel()
        try await running.value
        #expect(companion.storeRanAtShutdown.value == true)
        #expect(store.uncommittedCount == 0)
        #expect(try SQL(path).int("SELECT count(*) FROM entries") == 5)
    }
}
