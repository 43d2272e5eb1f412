import AsyncHTTPClient
import Foundation
import SpoolTestServer
import SpoolTesting
import Testing
@testable import Spool
@testable import SpoolForwarding

/// A forwarder over an `HTTPClient` the app already has: it sends through that client, and
/// stopping the forwarder leaves the client to the app.
@Suite struct ForwardAppHTTPClientTests {
    /// A configuration with one HTTP sink at `server`, its spool holding five entries.
    private func spool(in directory: TemporaryDirectory, server: TestHTTPServer) throws -> (SpoolConfiguration, SpoolStore) {
        var configuration = try SpoolConfiguration(yaml: """
            spool: {path: "\(directory.file("app-client.spool"))"}
            sinks:
              out: {type: http, url: "\(server.url(path: "/in"))", batch_size: 2}
            """)
        configuration.store.report = { _ in }
        let store = try configuration.openStore()
        try store.append(contentsOf: (0..<5).map {
            LogEntry(timestamp: Int64($0), level: .info, topic: "app", message: "entry \($0)")
        })
        return (configuration, store)
    }

    @Test func aForwarderSendsThroughTheAppsClientAndLeavesItRunningWhenItStops() async throws {
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let directory = TemporaryDirectory()
            let (configuration, store) = try spool(in: directory, server: server)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let forwarder = try configuration.makeForwarder(store: store, name: "test", httpClient: client, environment: [:])
                // The public `run()` until the spool is empty, then as a service group stops it.
                let running = Task { try await forwarder.run() }
                _ = try await server.waitForRequests(3)
                running.cancel()
                try await running.value
                try store.close()

                let forwarded = server.requests
                #expect(forwarded.count == 3)
                #expect(forwarded.map(\.bodyText).joined().contains("entry 4"))
                #expect(forwarded.allSatisfy { $0.header("User-Agent") == configuration.transport.userAgent })

                // The app's client still works after the forwarder stopped, on a connection the
                // forwarder's requests opened: they went through this client's pool.
                let response = try await client.execute(HTTPClientRequest(url: server.url(path: "/after")), timeout: .seconds(10))
                #expect(response.status.code == 204)
                let after = try #require(try await server.waitForRequests(4).last)
                #expect(after.path == "/after")
                #expect(Set(forwarded.map(\.connectionNumber)).contains(after.connectionNumber))
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    @Test(.timeLimit(.minutes(1))) func aForwarderShutsDownTheClientItMadeWhenItStopsAndRunsOnce() async throws {
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let directory = TemporaryDirectory()
            let (configuration, store) = try spool(in: directory, server: server)
            let forwarder = try configuration.makeForwarder(store: store, name: "test", environment: [:])
            let running = Task { try await forwarder.run() }
            _ = try await server.waitForRequests(3)
            running.cancel()
            try await running.value
            try store.close()

            // Its own client is shut down: a request through the transport now fails at once.
            let request = SinkRequest(url: server.url(path: "/late"), body: [1], allowsGzip: false)
            guard case .failure(let failure) = await forwarder.transport.send(request) else {
                Issue.record("the forwarder's own client still sends after run() returned")
                return
            }
            #expect(failure.message.contains("alreadyShutdown"), "\(failure)")
            try await forwarder.transport.shutdown()  // a second shutdown does nothing

            // A second run says so at once, instead of retrying through a client that is gone.
            let requestsBefore = server.requests.count
            let second = await #expect(throws: SpoolError.self) { try await forwarder.run() }
            #expect(second?.code == .closed)
            #expect(second?.message.contains("already run") == true, "\(String(describing: second))")
            #expect(server.requests.count == requestsBefore)
        }
    }

    /// AsyncHTTPClient's default client follows redirects, turning a POST into a GET after a
    /// 302: the page it lands on answering 200 must not acknowledge the batch, which never
    /// reached a destination. The redirect is what the sink sees (a 3xx: misconfigured), and
    /// every entry stays pending.
    @Test func aRedirectFollowedByTheAppsClientNeverAcknowledgesTheBatch() async throws {
        let redirect = Behaviour { request in
            guard request.path == "/in", let host = request.header("Host") else { return .respond(Response(status: 200)) }
            return .respond(Response(status: 302, headers: [("Location", "http://\(host)/login")]))
        }
        try await TestHTTPServer.withServer(behaviour: redirect) { server in
            let directory = TemporaryDirectory()
            let (configuration, store) = try spool(in: directory, server: server)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)  // follows redirects
            do {
                let forwarder = try configuration.makeForwarder(store: store, name: "test", httpClient: client, environment: [:])
                let running = Task { try await forwarder.run() }
                let requests = try await server.waitForRequests(4)  // two batches in flight, each redirected
                running.cancel()
                try await running.value
                #expect(requests.contains { $0.path == "/login" && $0.method == "GET" })  // the client did follow

                let books = try #require(try store.stats().sinks.first { $0.name == "out" })
                #expect(books.delivered == 0)
                #expect(books.pending == 5)
                try store.close()
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}
