import NIOCore
import NIOHTTP1
import NIOPosix
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 server on 127.0.0.1 whose answers a test scripts, faults included.
///
/// It listens on a free port below the OS's ephemeral range (so no client's connection takes it
/// while the server is stopped), records every request (body gunzipped for inspection),
/// counts connections and in-flight requests, and answers as its ``behaviour`` says, which a
/// test may change at any moment from any thread. ``stop()`` and ``restart()`` close and reopen
/// the listening socket on the same port, so clients see real `ECONNREFUSED` in between.
///
/// ```swift
/// try await TestHTTPServer.withServer(behaviour: .failFor(2)) { server in
///     // point the client at server.url(path: "/loki/api/v1/push") and send
///     let requests = try await server.waitForRequests(3)
///     #expect(requests.last?.bodyText.contains("hello") == true)
/// }
/// ```
public final class TestHTTPServer: Sendable {
    /// How the server is set up; every field has a default fit for most tests.
    public struct Configuration: Sendable {
        /// The port to listen on; 0 (the default) picks a random free one below the OS's
        /// ephemeral range (Linux), else one the OS chooses.
        public var port: Int
        /// Whether received requests are kept for ``requests``; turn off for long benchmarks,
        /// where only the counters matter. Default `true`.
        public var keepsRequests: Bool
        /// The event loops the server runs on; NIO's shared singleton group by default.
        public var eventLoopGroup: any EventLoopGroup

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - port: The port, 0 for any free one.
        ///   - keepsRequests: Whether requests are kept for inspection.
        ///   - eventLoopGroup: The event loops to run on; the caller shuts down its own group.
        public init(
            port: Int = 0,
            keepsRequests: Bool = true,
            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
        ) {
            self.port = port
            self.keepsRequests = keepsRequests
            self.eventLoopGroup = eventLoopGroup
        }
    }

    struct State {
        var behaviour: Behaviour
        var port: Int
        var listener: (any Channel)?
        /// Bumped by every bind and every stop; a connection accepted under an older
        /// generation is closed at once, so a stop is never outrun by a late accept.
        var generation = 0
        var isBinding = false
        var isShutDown = false
        var connections: [Int: any Channel] = [:]
        var stats = ServerStats()
        var requests: [RecordedRequest] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiterID = 0
    }

    struct Waiter {
        let condition: @Sendable (ServerStats) -> Bool
        let continuation: CheckedContinuation<Void, any Error>
        let timeout: Scheduled<Void>
    }

    let configuration: Configuration
    /// A pthread mutex rather than `Synchronization.Mutex`: on Linux the latter is a
    /// priority-inheritance futex whose contended hand-off happens in the kernel, which
    /// ThreadSanitizer cannot see, so it reports races that are not there.
    let state: NIOLockedValueBox<State>

    private init(behaviour: Behaviour, configuration: Configuration) {
        self.configuration = configuration
        self.state = NIOLockedValueBox(State(behaviour: behaviour, port: configuration.port))
    }

    // MARK: - Life cycle

    /// Starts a server listening on 127.0.0.1.
    ///
    /// - Parameters:
    ///   - behaviour: How it answers at first; `.ok()` (204) by default.
    ///   - configuration: Port, request keeping and event loops.
    /// - Returns: The listening server; call ``shutdown()`` when done, or use
    ///   ``withServer(behaviour:configuration:isolation:_:)``.
    /// - Throws: NIO's error if the port cannot be bound.
    public static func start(
        behaviour: Behaviour = .ok(), configuration: Configuration = Configuration()
    ) async throws -> TestHTTPServer {
        let server = TestHTTPServer(behaviour: behaviour, configuration: configuration)
        guard configuration.port == 0 else {
            try await server.restart()
            return server
        }
        // Any free port would do for a server that never stops. One that ``stop()``s gives its
        // port back meanwhile, and a port from the OS's ephemeral range can then become the
        // local end of some client's connection (every connect takes one from that range),
        // after which ``restart()`` cannot bind it. A port below that range is never handed
        // out that way.
        for candidate in Self.portsOutsideEphemeralRange() {
            server.state.withLockedValue { $0.port = candidate }
            do {
                try await server.restart()
                return server
            } catch {
                continue  // Taken by another listener: the next one.
            }
        }
        server.state.withLockedValue { $0.port = 0 }
        try await server.restart()
        return server
    }

    /// Up to 32 random ports between 10000 and the start of the OS's ephemeral port range
    /// (Linux: `/proc/sys/net/ipv4/ip_local_port_range`), or none where that range is unknown
    /// or leaves too little room below it.
    package static func portsOutsideEphemeralRange() -> [Int] {
        guard let low = ephemeralPortRange?.lowerBound, low > 11_000 else { return [] }
        return (0..<32).map { _ in Int.random(in: 10_000..<low) }
    }

    /// The ports the OS gives to a `bind` of port 0 and to a connecting socket, where known.
    package static var ephemeralPortRange: ClosedRange<Int>? {
        #if canImport(Glibc)
        let descriptor = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let bounds = String(decoding: buffer[..<count], as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return nil }
        return bounds[0]...bounds[1]
        #else
        return nil
        #endif
    }

    /// Runs `body` with a started server and shuts the server down afterwards, even on error.
    ///
    /// - Parameters:
    ///   - behaviour: How it answers at first.
    ///   - configuration: Port, request keeping and event loops.
    ///   - body: The test.
    /// - Returns: What `body` returns.
    /// - Throws: What `start` or `body` throws.
    public static func withServer<Result>(
        behaviour: Behaviour = .ok(),
        configuration: Configuration = Configuration(),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (TestHTTPServer) async throws -> Result
    ) async throws -> Result {
        let server = try await start(behaviour: behaviour, configuration: configuration)
        do {
            let result = try await body(server)
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// Closes the listening socket and every open connection, keeping the port for
    /// ``restart()``. Until then connecting fails with `ECONNREFUSED`, as when a backend is down.
    /// Returns once everything is closed. Does nothing if the server is not listening.
    public func stop() async {
        let (listener, connections) = state.withLockedValue { state in
            state.generation += 1
            defer { state.listener = nil }
            return (state.listener, Array(state.connections.values))
        }
        if let listener { await Self.close(listener) }
        for connection in connections { await Self.close(connection) }
    }

    /// Listens again on the same port after ``stop()``.
    ///
    /// - Throws: ``TestServerError`` with code `.alreadyListening` or `.shutDown`, or NIO's
    ///   error if the port cannot be bound (another process took it meanwhile).
    public func restart() async throws {
        let (port, generation) = try state.withLockedValue { state in
            guard !state.isShutDown else { throw TestServerError(.shutDown, "restart after shutdown") }
            guard state.listener == nil, !state.isBinding else {
                throw TestServerError(.alreadyListening, "restart while listening on \(state.port)")
            }
            state.isBinding = true
            state.generation += 1
            return (state.port, state.generation)
        }
        let channel: any Channel
        do {
            channel = try await bind(port: port, generation: generation)
        } catch {
            state.withLockedValue { $0.isBinding = false }
            throw error
        }
        let superseded = state.withLockedValue { state in
            state.isBinding = false
            guard state.generation == generation, !state.isShutDown else { return true }
            state.listener = channel
            state.port = channel.localAddress?.port ?? port
            return false
        }
        // A stop or shutdown that came while binding wins.
        if superseded { await Self.close(channel) }
    }

    /// Stops the server for good: closes everything and fails pending waits with `.shutDown`.
    public func shutdown() async {
        let waiters = state.withLockedValue { state in
            state.isShutDown = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timeout.cancel()
            waiter.continuation.resume(throwing: TestServerError(.shutDown, "the server was shut down during a wait"))
        }
        await stop()
    }

    // MARK: - What a test reads and sets

    /// The port the server listens on (kept across ``stop()`` and ``restart()``).
    public var port: Int { state.withLockedValue { $0.port } }

    /// The URL of `path` on this server: `http://127.0.0.1:PORT/path`.
    ///
    /// - Parameter path: A path starting with `/`, with or without a query.
    public func url(path: String = "/") -> String {
        "http://127.0.0.1:\(port)\(path.hasPrefix("/") ? path : "/" + path)"
    }

    /// Whether the listening socket is open.
    public var isListening: Bool { state.withLockedValue { $0.listener != nil } }

    /// How the server answers requests from now on; safe to set from any thread at any time.
    public var behaviour: Behaviour {
        get { state.withLockedValue { $0.behaviour } }
        set { state.withLockedValue { $0.behaviour = newValue } }
    }

    /// The counters now.
    public var stats: ServerStats { state.withLockedValue { $0.stats } }

    /// Every request received so far, in arrival order (empty when the configuration does not
    /// keep requests).
    public var requests: [RecordedRequest] { state.withLockedValue { $0.requests } }

    /// Resets the peak counters to the current values, to measure one phase of a test.
    public func resetPeaks() {
        state.withLockedValue { state in
            state.stats.peakOpenConnections = state.stats.openConnections
            state.stats.peakInFlightRequests = state.stats.inFlightRequests
        }
    }

    // MARK: - Binding

    private func bind(port: Int, generation: Int) async throws -> any Channel {
        try await ServerBootstrap(group: configuration.eventLoopGroup)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let number = self.connectionOpened(channel, generation: generation) else {
                        throw ChannelError.ioOnClosedChannel  // Accepted just before a stop: refuse it.
                    }
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try pipeline.addHandler(ConnectionHandler(server: self, connectionNumber: number))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
    }

    private static func close(_ channel: any Channel) async {
        channel.close(promise: nil)
        try? await channel.closeFuture.get()
    }
}
