import ServiceLifecycle
import Spool

/// A spool's background work (`SpoolStore.run()`: checkpoints off the append path, buffered
/// mode's committer and timer) as a swift-service-lifecycle `Service`.
///
/// List it first in the `ServiceGroup`: services stop in reverse order, so it stops after the
/// forwarder's last acknowledgement and commits what buffered mode still holds.
///
/// ```swift
/// let configuration = try SpoolConfiguration(contentsOfFile: "/etc/myapp/spool.yaml")
/// let store = try configuration.openStore()
/// let forwarder = try configuration.makeForwarder(store: store, name: "myapp")
/// let group = ServiceGroup(services: [SpoolStoreService(store), forwarder],
///                          gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// Not a conformance of `SpoolStore` itself: the store's own `run()` (in the `Spool`
/// product, which does not depend on swift-service-lifecycle) stops on task cancellation (or `close()`) only,
/// and a `ServiceGroup` shutting down gracefully waits for each service to return without
/// cancelling it. This service cancels the store's `run()` on graceful shutdown.
public struct SpoolStoreService: Service, Sendable {
    /// The spool whose background work this runs.
    public let store: SpoolStore

    /// A service that runs `store`'s background work.
    /// - Parameter store: The open spool; at most one of its `run()` runs at a time.
    public init(_ store: SpoolStore) {
        self.store = store
    }

    /// Runs the store's background work until graceful shutdown or cancellation, then commits
    /// what buffered mode still holds.
    /// - Throws: `SpoolError` from `SpoolStore.run()`.
    public func run() async throws {
        let store = self.store
        try await cancelWhenGracefulShutdown { try await store.run() }
    }
}
