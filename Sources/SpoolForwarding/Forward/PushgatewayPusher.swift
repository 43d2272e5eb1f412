import Foundation
import ServiceLifecycle
import Spool
import Synchronization

/// Pushes a ``PushgatewaySink``'s persisted counters to the Pushgateway: soon after counts change
/// (at most once per ``PushgatewaySink/Configuration/minimumSpacing``), every
/// ``PushgatewaySink/Configuration/interval`` when idle, and once more when it stops.
///
/// Each push is one `PUT` of the full counter set through the one ``Transport``. `PUT` replaces
/// the group, so pushing the same state twice is harmless, and a failed push needs no retry of
/// its own: the next push (after `interval`) carries the same state or a newer one. Failures are
/// reported once per outage (`spool.pushgateway.failing`, or `spool.pushgateway.misconfigured`
/// for a 4xx), and the recovery too.
///
/// A ``Forwarder`` given the pusher (`pushers`, as `spool forward` and `makeForwarder` do) runs
/// its loop beside the schedulers and the final push after them, within its grace period.
/// ``run()`` is the same loop and final push as a `Service` of its own.
package final class PushgatewayPusher: Service, Sendable {
    let sink: PushgatewaySink
    /// The sink's name in the spool.
    package let name: String
    let transport: Transport
    /// Credential headers for each push; never logged.
    private let credentials: [SinkRequest.Header]
    let clock: any WallClock
    let report: @Sendable (LogEntry) -> Void
    private let state = Mutex(State())
    /// The latest push: the next one starts when it has finished.
    private let pushes = Mutex<Task<Bool, Never>?>(nil)

    private struct State {
        var failing = false
        var pushes = 0
        var last: PushOutcome?
        /// The final push has started (``pushFinal()``), and has ended.
        var finalStarted = false
        var finalEnded = false

        /// Keeps `outcome` as the latest, except over an abandoned final push: the push it gave
        /// up on may still end (failing when the transport shuts down) after the forwarder moved on.
        mutating func record(_ outcome: PushOutcome) {
            if case .abandoned = last { return }
            last = outcome
            if finalStarted { finalEnded = true }
        }
    }

    /// How a push ended.
    package enum PushOutcome: Sendable, Equatable {
        /// The Pushgateway stored the counters (2xx).
        case accepted
        /// The Pushgateway refused them for good (a 4xx: wrong URL or job, a metric name another
        /// group uses with another type); pushing again changes nothing until that is fixed.
        case refused(reason: String)
        /// The push did not get there (refused connection, timeout, 5xx); a later one may.
        case failed(reason: String)
        /// The final push did not finish within the forwarder's grace period.
        case abandoned(after: Duration)
    }

    /// - Parameters:
    ///   - sink: The counting sink (it tells the pusher when counts change).
    ///   - name: The sink's name in the spool: the scheduler's ``SinkScheduler/Configuration/name``.
    ///   - transport: The one HTTP path.
    ///   - credentials: Headers added to every push (``Credentials/headers``); never logged.
    ///   - clock: For the interval and spacing. Default the system clock.
    ///   - report: Where failures and recoveries go. Default nil: where the sink's spool
    ///     reports, its ``SpoolStore/Configuration/logger`` or one JSON line on stderr.
    package init(sink: PushgatewaySink, name: String = "pushgateway", transport: Transport,
                credentials: [SinkRequest.Header] = [],
                clock: any WallClock = SystemClock(), report: (@Sendable (LogEntry) -> Void)? = nil) {
        self.sink = sink
        self.name = name
        self.transport = transport
        self.credentials = credentials
        self.clock = clock
        self.report = report ?? sink.store.reporter
    }

    /// Successful pushes so far.
    package var pushCount: Int { state.withLock { $0.pushes } }

    /// How the latest push ended, nil before the first. After a ``Forwarder`` has stopped, this
    /// is the final push's: `spool forward --until-empty` exits 1 unless it is ``PushOutcome/accepted``.
    package var lastOutcome: PushOutcome? { state.withLock { $0.last } }

    /// Pushes until graceful shutdown or cancellation, then pushes once more. A push under way
    /// at shutdown finishes first (each is bounded by the transport's request timeout).
    package func run() async throws {
        await cancelWhenGracefulShutdown { [self] in await pushUntilCancelled() }
        await push()
    }

    /// Pushes as counts change and every interval, until the task is cancelled; no final push
    /// (``run()`` and the ``Forwarder`` make it once the forwarding has stopped).
    func pushUntilCancelled() async {
        let configuration = sink.configuration
        let tick = max(.milliseconds(1), min(configuration.minimumSpacing, configuration.interval))
        var lastAttempt: UnixInstant?
        while !Task.isCancelled {
            let now = clock.now
            let sinceLast = lastAttempt.map { $0.duration(to: now) }
            let due = sinceLast.map { $0 >= configuration.interval } ?? true
            let spaced = sinceLast.map { $0 >= configuration.minimumSpacing } ?? true
            // While failing, only the interval pushes: no push per batch at a gateway that is down.
            let failing = state.withLock { $0.failing }
            if due || (spaced && !failing && sink.changes.take(name)) {
                lastAttempt = now
                await push()
            }
            do { try await clock.sleep(for: tick) } catch { return }
        }
    }

    /// Pushes the current counters once, after any push already under way has finished.
    ///
    /// Pushes go one at a time, in call order, and a caller's cancellation never cuts one short:
    /// a `PUT` replaces the whole group, so a push must not reach the gateway after a newer one.
    /// A push abandoned mid-request could (its request may already be on the wire, and land after
    /// the next push's), and the gateway would then keep stale counts.
    /// - Returns: whether the Pushgateway accepted them.
    @discardableResult
    package func push() async -> Bool {
        let push = pushes.withLock { last -> Task<Bool, Never> in
            let previous = last
            let next = Task { [self] in
                _ = await previous?.value
                return await pushNow()
            }
            last = next
            return next
        }
        return await push.value
    }

    /// The final push, once the forwarding has stopped: ``push()``, marked so that a deadline
    /// reached after it ended (``reportFinalPushAbandoned(after:)``) does not overwrite its outcome.
    func pushFinal() async {
        state.withLock { $0.finalStarted = true }
        await push()
    }

    /// Reads the counters and pushes them: one `PUT`.
    private func pushNow() async -> Bool {
        let counters: [EntryCounter]
        do {
            let (store, name) = (sink.store, name)
            counters = try await BlockingWork.run { () throws(SpoolError) in try store.counters(sink: name) }
        } catch {
            failed(.retry(after: nil, reason: "could not read the counters from the spool: \(error.message)"))
            return false
        }
        let verdict: Verdict
        switch await transport.send(sink.request(counters), credentials: credentials) {
        case .success(let response): verdict = Verdict.standard(response, table: .pushgateway)
        case .failure(let failure): verdict = .retry(after: nil, reason: failure.message)
        }
        guard case .delivered = verdict else {
            // The counts stay in the spool; the next interval's push carries them.
            failed(verdict)
            return false
        }
        let recovered = state.withLock { state -> Bool in
            state.pushes += 1
            state.record(.accepted)
            defer { state.failing = false }
            return state.failing
        }
        if recovered {
            report(event(.notice, "spool.pushgateway.recovered", "the Pushgateway accepts pushes again", [:]))
        }
        return true
    }

    private func failed(_ verdict: Verdict) {
        let first = state.withLock { state -> Bool in
            switch verdict {
            case .misconfigured(let reason), .rejected(let reason), .tooLarge(let reason): state.record(.refused(reason: reason))
            case .retry(_, let reason), .partiallyDelivered(_, let reason): state.record(.failed(reason: reason))
            case .delivered: break
            }
            defer { state.failing = true }
            return !state.failing
        }
        guard first else { return }
        switch verdict {
        case .misconfigured(let reason), .rejected(let reason), .tooLarge(let reason):
            report(event(.critical, "spool.pushgateway.misconfigured",
                         "the Pushgateway refuses the counters (\(reason)); they stay in the spool and are pushed again every \(sink.configuration.interval). Check the URL, the job and whether another group uses the metric name with another type.",
                         ["reason": .string(reason)]))
        case .retry(_, let reason), .partiallyDelivered(_, let reason):
            report(event(.error, "spool.pushgateway.failing",
                         "pushing counters to the Pushgateway failed (\(reason)); they stay in the spool and are pushed again every \(sink.configuration.interval)",
                         ["reason": .string(reason)]))
        case .delivered:
            break
        }
    }

    /// Says that the final push did not finish within the forwarder's grace period: the
    /// gateway keeps older counts until the next run's first push (the spool keeps the counts).
    func reportFinalPushAbandoned(after grace: Duration) {
        let abandoned = state.withLock { state -> Bool in
            guard !state.finalEnded else { return false }  // it ended in time after all
            state.record(.abandoned(after: grace))
            return true
        }
        guard abandoned else { return }
        report(event(.warning, "spool.pushgateway.final_push_abandoned",
                     "the final push did not finish within \(grace) of the forwarder's stop; the Pushgateway keeps older counts until the next run pushes (the counts are kept in the spool)",
                     [:]))
    }

    private func event(_ level: LogLevel, _ topic: String, _ message: String, _ context: [String: JSONValue]) -> LogEntry {
        var context = context
        context["sink"] = .string(name)
        context["url"] = .string(sink.url)
        return LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic, message: message, context: context)
    }
}
