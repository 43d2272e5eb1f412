import Synchronization

/// An asynchronous handler: entries are queued by the `log` call and handed to an `async`
/// closure off the caller's thread, one at a time, in the order they were logged.
///
/// The queue is bounded. When it is full the new entry is dropped and counted
/// (``overflowCount``): logging never blocks on a slow destination. A closure that throws is
/// reported to the owning logger's fallback handler, like a synchronous handler's failure.
/// ``flush()`` returns once every entry queued before it has been processed.
///
/// `AsyncClosureHandler` is a `Sendable` reference: copies share one queue. Its worker stops
/// after the last reference goes away and the queue is drained.
///
/// ```swift
/// let webhook = AsyncClosureHandler(capacity: 4096) { entry in
///     try await alerts.post(entry)           // may take a while; the caller does not wait
/// }
/// let log = SpoolLogger(topic: "api", handlers: [SpoolStoreHandler(store), webhook])
/// log.error("payment declined")
/// await log.flush()                           // waits for the webhook call
/// ```
public final class AsyncClosureHandler: LogEntryHandler, FailureReportingHandler {
    /// The default queue capacity.
    public static let defaultCapacity = 1024

    /// The queue's capacity, in entries.
    package let capacity: Int
    private let continuation: AsyncStream<Item>.Continuation
    private let progress: Progress

    /// Creates the handler and starts its worker task.
    /// - Parameters:
    ///   - capacity: Entries that may wait; more are dropped and counted. Default
    ///     ``defaultCapacity``; at least 1.
    ///   - body: Called for each entry, in order, one at a time, off the logging thread.
    public init(capacity: Int = AsyncClosureHandler.defaultCapacity, _ body: @escaping @Sendable (LogEntry) async throws -> Void) {
        let capacity = max(1, capacity)
        self.capacity = capacity
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingOldest(capacity))
        self.continuation = continuation
        let progress = Progress()
        self.progress = progress
        Task.detached {
            for await item in stream {
                do {
                    try await body(item.entry)
                } catch {
                    progress.report(error, entry: item.entry)
                }
                progress.complete(item.sequence)
            }
        }
    }

    deinit {
        continuation.finish()
    }

    /// Queues the entry and returns at once; a full queue drops it and counts it.
    public func handle(_ entry: LogEntry) {
        progress.state.withLock { state in
            let sequence = state.accepted + 1
            // Yield under the lock so sequence numbers follow queue order.
            switch continuation.yield(Item(sequence: sequence, entry: entry)) {
            case .enqueued: state.accepted = sequence
            case .dropped, .terminated: state.overflow += 1
            @unknown default: state.overflow += 1
            }
        }
    }

    /// Returns once every entry queued before the call has been processed (successfully or not).
    public func flush() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = progress.state.withLock { state -> Bool in
                if state.completed >= state.accepted { return true }
                state.waiters.append((state.accepted, waiter))
                return false
            }
            if done { waiter.resume() }
        }
    }

    /// Entries dropped because the queue was full.
    public var overflowCount: Int {
        progress.state.withLock { $0.overflow }
    }

    package func attach(_ reporter: FailureReporter) {
        progress.state.withLock { state in
            if state.reporter == nil { state.reporter = reporter }
        }
    }

    // MARK: - Queue state

    private struct Item: Sendable {
        var sequence: UInt64
        var entry: LogEntry
    }

    /// What the worker shares with callers; the worker holds this, not the handler, so the
    /// handler can go away.
    private final class Progress: Sendable {
        struct State {
            var accepted: UInt64 = 0
            var completed: UInt64 = 0
            var overflow = 0
            var waiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
            var reporter: FailureReporter?
        }
        let state = Mutex(State())

        func complete(_ sequence: UInt64) {
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.completed = sequence
                guard !state.waiters.isEmpty else { return [] }
                let ready = state.waiters.filter { $0.target <= sequence }.map(\.continuation)
                state.waiters.removeAll { $0.target <= sequence }
                return ready
            }
            for waiter in ready { waiter.resume() }
        }

        func report(_ error: any Error, entry: LogEntry) {
            let reporter = state.withLock { $0.reporter }
            if let reporter {
                reporter.report(error, entry: entry, during: "handle")
            } else {
                FailureReporter.standalone(error, handler: "AsyncClosureHandler", entry: entry, during: "handle")
            }
        }
    }
}
