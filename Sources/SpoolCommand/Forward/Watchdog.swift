import Foundation
import ServiceLifecycle
import Spool
import SpoolForwarding
import Synchronization

/// Ends a `spool forward --until-empty` run that cannot finish: when `--timeout` expires, or
/// when a sink pauses as misconfigured (it would wait minutes and try again, for ever). It shuts
/// the service group down gracefully (batches in flight settle or stay in the spool) and
/// records why, so the command exits 1 naming the sink.
final class Watchdog: Sendable {
    /// Why the run was ended.
    enum Ending: Sendable {
        case timedOut
        case paused(sink: String)

        /// The error the command exits with, naming the sinks that still have entries.
        func error(pending: [(name: String, count: Int64)], timeout: Duration?) -> SpoolError {
            let left = pending.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
            switch self {
            case .timedOut:
                let span = timeout.map(Forward.describe) ?? "the timeout"
                return SpoolError(.io, "--timeout \(span) expired with entries still pending for \(left.isEmpty ? "no sink" : left); they stay in the spool for the next run")
            case .paused(let sink):
                let count = pending.first { $0.name == sink }?.count
                return SpoolError(.configuration, "sink '\(sink)' is paused as misconfigured (the spool.forward.misconfigured line above says why); its \(count.map(String.init) ?? "pending") entries stay in the spool. Fix its URL, credentials or tenant and run again")
            }
        }
    }

    let names: [String]
    let schedulers: [SinkScheduler]
    let timeout: Duration?
    let watchesPauses: Bool
    private let reason = Mutex<Ending?>(nil)

    init(names: [String], schedulers: [SinkScheduler], timeout: Duration?, watchesPauses: Bool) {
        self.names = names
        self.schedulers = schedulers
        self.timeout = timeout
        self.watchesPauses = watchesPauses
    }

    /// Why the run was ended, or nil when it ended by itself.
    var ending: Ending? { reason.withLock { $0 } }

    /// Watches until cancelled or until it ends the run.
    func run(stopping group: ServiceGroup) async {
        guard timeout != nil || watchesPauses else { return }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while !Task.isCancelled {
            var found: Ending?
            if watchesPauses, let index = schedulers.firstIndex(where: { $0.currentProgress.paused }) {
                found = .paused(sink: names[index])
            } else if let deadline, ContinuousClock.now >= deadline {
                found = .timedOut
            }
            if let found {
                reason.withLock { $0 = found }
                await group.triggerGracefulShutdown()
                return
            }
            // A watchdog's look every 100 ms; the deadline itself is kept to that resolution.
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

extension Watchdog {
    /// `--until-empty` promises that everything reached its destination; a Pushgateway sink's
    /// counters got there only if the final push was accepted. They stay in the spool either way.
    static func undeliveredCounters(_ pushers: [PushgatewayPusher]) -> SpoolError? {
        for pusher in pushers {
            let sink = OneOffSinks.displayName(pusher.name)
            let kept = "the counts stay in the spool and the next run pushes them"
            switch pusher.lastOutcome {
            case .accepted:
                continue
            case .refused(let reason):
                return SpoolError(.configuration, "sink '\(sink)': the Pushgateway refused the counters (\(reason)); \(kept). Check the URL, the job and whether another group uses the metric name with another type")
            case .failed(let reason):
                return SpoolError(.io, "sink '\(sink)': the last push of the counters failed (\(reason)); \(kept)")
            case .abandoned(let grace):
                return SpoolError(.io, "sink '\(sink)': the last push of the counters did not finish within \(Forward.describe(grace)); \(kept)")
            case nil:
                return SpoolError(.io, "sink '\(sink)': the counters were never pushed; \(kept)")
            }
        }
        return nil
    }
}
