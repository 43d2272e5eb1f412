import Foundation
import Spool
import SpoolForwarding
import Synchronization

/// One summary line per interval on stderr while `spool forward` runs and stderr is not a
/// terminal (a service manager, `journalctl`, a redirected log), so its progress shows without
/// a metrics stack:
///
/// ```
/// spool: forward: last 60s: delivered 12034 (total 501234), pending 0, lag 0s, failures 0
/// ```
///
/// `delivered` and `failures` (failed requests) are summed over the sinks; `pending` and `lag`
/// (the oldest pending entry's age) are the largest of any sink. A sink that is paused or has
/// been failing adds `; loki paused (misconfigured)` or `; loki failing for 75s`. The interval
/// runs on the injected clock, so a test moves it instead of waiting a minute.
final class ForwardStatusReport: Sendable {
    /// What the line needs of one sink.
    struct Sink: Sendable {
        /// The name people know it by.
        var name: String
        var scheduler: SinkScheduler
        /// Its pending entries and the Unix time (ns) of the oldest, read from the spool.
        var backlog: @Sendable () -> (entries: Int64, oldestPendingSince: Int64?)?
    }

    let sinks: [Sink]
    let interval: Duration
    let clock: any WallClock
    let write: @Sendable (String) -> Void
    private let last: Mutex<(at: UnixInstant, delivered: Int, failures: Int)>

    init(sinks: [Sink], interval: Duration, clock: any WallClock = SystemClock(), write: @escaping @Sendable (String) -> Void = { StandardError.write($0) }) {
        self.sinks = sinks
        self.interval = interval
        self.clock = clock
        self.write = write
        last = Mutex((clock.now, 0, 0))
    }

    /// A line every `interval` until cancelled.
    func run() async {
        while !Task.isCancelled {
            do { try await clock.sleep(for: interval) } catch { return }
            let line = await self.line()
            write(line + "\n")
        }
    }

    /// The line for now; it also starts the next interval.
    func line() async -> String {
        let now = clock.now
        let backlogs = await Self.offThePool { [sinks] in sinks.map { $0.backlog() } }
        var delivered = 0, failures = 0, pending: Int64 = 0, lag: Int64 = 0
        var troubles: [String] = []
        for (sink, backlog) in zip(sinks, backlogs) {
            let progress = sink.scheduler.currentProgress
            delivered += progress.delivered
            failures += progress.failures
            if let backlog {
                pending = max(pending, backlog.entries)
                if let oldest = backlog.oldestPendingSince { lag = max(lag, (now.nanoseconds &- oldest) / 1_000_000_000) }
            }
            if progress.paused {
                troubles.append("\(sink.name) paused (\(progress.pauseReason?.rawValue ?? "misconfigured"))")
            } else if let since = progress.failingSince {
                troubles.append("\(sink.name) failing for \(since.duration(to: now).components.seconds)s")
            }
        }
        let previous = last.withLock { last in
            defer { last = (now, delivered, failures) }
            return last
        }
        let seconds = max(0, previous.at.duration(to: now).components.seconds)
        var line = "spool: forward: last \(seconds)s: delivered \(delivered - previous.delivered) (total \(delivered)), "
            + "pending \(backlogs.contains { $0 == nil } && pending == 0 ? "?" : String(pending)), lag \(max(0, lag))s, failures \(failures - previous.failures)"
        if !troubles.isEmpty { line += "; " + troubles.joined(separator: "; ") }
        return line
    }

    /// Runs a blocking read (the spool's reader lock, SQLite's busy wait) on a thread of
    /// Dispatch's, never on Swift's cooperative pool.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
