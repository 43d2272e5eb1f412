import Foundation
import ServiceLifecycle
import Spool
import SpoolForwarding
import Synchronization

/// What `spool forward` runs under its `ServiceGroup`: the forwarder, the optional ingestion of
/// standard input, and the optional status line.
///
/// Graceful shutdown (SIGINT, SIGTERM) stops reading stdin at a line boundary (every line read
/// is committed) and lets the forwarder drain within its grace period.
final class ForwardService: Service, Sendable {
    let store: SpoolStore
    let forwarder: Forwarder
    let ingester: LineIngester?
    let untilEmpty: Bool
    let showsStatus: Bool
    /// The sinks' names, in the order of the forwarder's schedulers.
    let names: [String]
    private let stopIngest = Atomic<Bool>(false)
    private let summary = Mutex<LineIngester.Summary?>(nil)

    init(store: SpoolStore, forwarder: Forwarder, names: [String], ingester: LineIngester?, untilEmpty: Bool, showsStatus: Bool) {
        self.store = store
        self.names = names
        self.forwarder = forwarder
        self.ingester = ingester
        self.untilEmpty = untilEmpty
        self.showsStatus = showsStatus
    }

    /// What `--stdin` read, once it ended.
    var ingestSummary: LineIngester.Summary? { summary.withLock { $0 } }

    func run() async throws {
        let status = showsStatus ? StatusLine(store: store, sinks: Array(zip(names, forwarder.schedulers))) : nil
        let statusTask = status.map { status in Task { await status.run() } }
        defer {
            statusTask?.cancel()
            status?.finish()
        }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let forwarder = self.forwarder
                // Without stdin, --until-empty is the forwarder's own `.empty`; with it, the
                // schedulers are told to finish once the input has ended and is committed.
                let stop: SinkScheduler.Stop = untilEmpty && ingester == nil ? .empty : .cancelled
                group.addTask { try await forwarder.run(until: stop) }
                if let ingester {
                    group.addTask {
                        try await self.ingest(with: ingester)
                        if self.untilEmpty {
                            for scheduler in forwarder.schedulers { scheduler.finishWhenEmpty() }
                        }
                    }
                }
                do {
                    // Not `waitForAll`, which waits for every task before it throws: a failed
                    // append (a full disk, `overflow: reject`) must end the forwarder too, or
                    // `--until-empty` would wait for ever.
                    while try await group.next() != nil {}
                } catch {
                    // Either side failed: stop reading and forwarding, so the group can end.
                    stopIngest.store(true, ordering: .releasing)
                    group.cancelAll()
                    throw error
                }
            }
        } onGracefulShutdown: {
            self.stopIngest.store(true, ordering: .releasing)
        }
    }

    /// Reads stdin on a thread of its own: a blocking `read(2)` must not hold one of the few
    /// threads of Swift's cooperative pool.
    private func ingest(with ingester: LineIngester) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                // The counts are kept also when an append fails: the closing line says what was lost.
                var summary = LineIngester.Summary()
                let result = Result { () throws(SpoolError) in
                    try ingester.run(descriptor: 0, shouldStop: { self.stopIngest.load(ordering: .acquiring) }, into: &summary)
                }
                self.summary.withLock { $0 = summary }
                continuation.resume(with: result)
            }
        }
    }
}

/// A live line on a terminal's stderr while `--until-empty` works: per sink, what is pending,
/// sent, retried, and the breaker's state. Redrawn twice a second in place.
final class StatusLine: Sendable {
    let store: SpoolStore
    let sinks: [(name: String, scheduler: SinkScheduler)]

    init(store: SpoolStore, sinks: [(name: String, scheduler: SinkScheduler)]) {
        self.store = store
        self.sinks = sinks
    }

    func run() async {
        while !Task.isCancelled {
            StandardError.write("\r\u{1B}[K" + line())
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// The last state, left on its own line.
    func finish() {
        StandardError.write("\r\u{1B}[K" + line() + "\n")
    }

    private func line() -> String {
        // One scan of the spool per redraw: fine on a terminal, never done otherwise.
        let pending = (try? store.stats().sinks).map { Dictionary($0.map { ($0.name, $0.pending) }, uniquingKeysWith: { a, _ in a }) } ?? [:]
        return sinks.map { name, scheduler in
            let progress = scheduler.currentProgress
            var text = "\(OneOffSinks.displayName(name)): \(pending[name].map(String.init) ?? "?") pending, \(progress.delivered) sent, \(progress.retries) retries, breaker \(progress.breaker.rawValue)"
            if progress.paused { text += ", paused (\(progress.pauseReason?.rawValue ?? "misconfigured"))" }
            return text
        }.joined(separator: " | ")
    }
}
