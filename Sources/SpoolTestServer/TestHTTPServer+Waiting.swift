import NIOConcurrencyHelpers
import NIOCore

// MARK: - Bounded waits

extension TestHTTPServer {
    /// The bound of a wait when the test gives none: 30 seconds. Generous on purpose: a wait that
    /// succeeds returns at the event, and on a two-core machine the test runner's cooperative pool
    /// can be busy for several seconds (tests that wait for `spool` child processes hold its
    /// threads), so a task a test started may not have run yet. 5 s made lease and Pushgateway
    /// tests fail about one run in six.
    public static let defaultWait: Duration = .seconds(30)

    /// Waits until the counters satisfy `condition`, at most `timeout`.
    ///
    /// The condition is checked now and after every change to the counters, under the server's
    /// lock: keep it a cheap pure function of the ``ServerStats`` it is given.
    ///
    /// ```swift
    /// try await server.waitUntil { $0.inFlightRequests == 5 }
    /// ```
    ///
    /// - Parameters:
    ///   - timeout: The longest wait; ``defaultWait`` by default.
    ///   - condition: What must hold.
    /// - Throws: ``TestServerError`` `.timedOut` (its message shows the counters) or `.shutDown`;
    ///   `CancellationError` if the task is cancelled.
    public func waitUntil(
        timeout: Duration = TestHTTPServer.defaultWait,
        _ condition: @escaping @Sendable (ServerStats) -> Bool
    ) async throws {
        let id = state.withLockedValue { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLockedValue { state in
                    if state.isShutDown { return .failure(TestServerError(.shutDown, "wait on a shut-down server")) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if condition(state.stats) { return .success(()) }
                    let timer = configuration.eventLoopGroup.next().scheduleTask(in: TimeAmount(timeout)) {
                        self.failWait(id, TestServerError(.timedOut, "after \(timeout), the counters are \(self.stats)"))
                    }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation, timeout: timer)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            failWait(id, CancellationError())
        }
    }

    /// Waits until at least `count` requests have been received, at most `timeout`, and returns
    /// all requests received so far.
    ///
    /// - Parameters:
    ///   - count: How many requests to wait for, counted from the server's start.
    ///   - timeout: The longest wait; ``defaultWait`` by default.
    /// - Returns: The requests received, in arrival order (at least `count` of them when the
    ///   configuration keeps requests).
    /// - Throws: As ``waitUntil(timeout:_:)``.
    @discardableResult
    public func waitForRequests(_ count: Int, timeout: Duration = TestHTTPServer.defaultWait) async throws -> [RecordedRequest] {
        try await waitUntil(timeout: timeout) { $0.requestsReceived >= count }
        return requests
    }

    private func failWait(_ id: Int, _ error: any Error) {
        let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
        guard let waiter else { return }
        waiter.timeout.cancel()
        waiter.continuation.resume(throwing: error)
    }
}
