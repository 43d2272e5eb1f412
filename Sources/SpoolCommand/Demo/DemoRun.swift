import Foundation
import Spool
import SpoolForwarding
import Synchronization

/// One run of `spool demo`: the receiver, the spool, the sample app, the forwarder, the outage.
struct DemoRun {
    let plan: DemoPlan
    let path: String

    /// What the run came to.
    struct Outcome {
        var path: String
        var written: Int
        var tally: Receiver.Tally
        var lost: Int
        var pendingLeft: Int64
        var seconds: Double
        var handlerFailures: Int

        var delivered: Int { tally.distinct }

        func summary() -> String {
            var lines = ["", "summary"]
            lines.append("  written:     \(written) entries, each committed to the spool before anything was sent")
            lines.append("  delivered:   \(delivered) distinct entries (\(tally.entries) received in \(DemoRun.count(tally.accepted, "accepted request")); \(DemoRun.count(tally.refused, "request")) refused with 503)")
            lines.append("  duplicates:  \(tally.duplicates) (an entry resent after a lost acknowledgement arrives twice: at-least-once delivery)")
            lines.append("  lost:        \(lost)")
            if pendingLeft > 0 { lines.append("  still in the spool, not delivered: \(pendingLeft)") }
            if handlerFailures > 0 { lines.append("  appends that failed: \(handlerFailures)") }
            lines.append("  took \(String(format: "%.1f", seconds)) s")
            lines.append("")
            lines.append("Look into the spool it left (delivered entries are deleted; the sink's position and counts remain):")
            lines.append("  sqlite3 \(path) 'SELECT * FROM sink_status;'")
            return lines.joined(separator: "\n")
        }
    }

    func run() async throws -> Outcome {
        let started = ContinuousClock.now
        let receiver = try await Receiver.start(ids: .demoID)
        let progress = DemoProgress(showsLive: isatty(2) == 1)
        let narrate: @Sendable (String) -> Void = { progress.say($0) }

        var storeConfiguration = SpoolStore.Configuration()
        storeConfiguration.report = { entry in narrate("  spool: \(entry.message)") }
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        let sinkName = "loki"
        let transport = Transport()
        let scheduler = SinkScheduler(
            store: store, sink: try LokiSink(configuration: .init(url: receiver.url, labels: ["service": "demo-shop"])),
            transport: transport, configuration: Self.schedulerConfiguration(name: sinkName),
            owner: "spool demo pid \(getpid())", report: { entry in Self.narrateEvent(entry, narrate) })
        let forwarder = Forwarder(schedulers: [scheduler], transport: transport)

        print("""
            Spool demo: a sample shop logs \(plan.entries) entries through SpoolLogger into \(path);
            a forwarder sends them to a Loki-compatible receiver at \(receiver.url),
            which will fail (503) for \(Self.seconds(plan.outageSeconds)) while the app keeps logging.
            Tuned for the demo, not the defaults: retries back off from 50 ms to at most 500 ms, and the
            circuit breaker opens after 3 failed requests and cools down for 1 s (default 30 s).

            """)
        fflush(nil)

        // The store's background work: checkpoints off the app's appends.
        let storeRunning = Task { try await store.run() }
        let forwarding = Task { try await forwarder.run(until: .cancelled) }
        let app = DemoApp(store: store, entries: plan.entries, duration: .milliseconds(Int64(plan.appSeconds * 1000)))
        let appTask = Task { await app.run() }
        let display = Task {
            await progress.run(scheduler: scheduler, store: store, sink: sinkName, receiver: receiver, written: { app.written })
        }

        narrate("t=0.0 s  the app starts logging; the receiver is up")
        try? await Task.sleep(for: .milliseconds(Int64(plan.warmUpSeconds * 1000)))
        if plan.outageSeconds > 0 {
            receiver.failing = true
            narrate("t=\(Self.elapsed(since: started))  outage: the receiver answers 503; entries wait in the spool")
            try? await Task.sleep(for: .milliseconds(Int64(plan.outageSeconds * 1000)))
            receiver.failing = false
            narrate("t=\(Self.elapsed(since: started))  the receiver is back; the forwarder drains what the spool held")
        }
        await appTask.value
        narrate("t=\(Self.elapsed(since: started))  the app is done: \(app.written) entries logged")
        scheduler.finishWhenEmpty()

        // Bounded: a drain that does not finish in time is reported as what is left.
        let deadline = Task {
            try await Task.sleep(for: plan.drainDeadline)
            forwarding.cancel()
        }
        let forwardError: (any Error)?
        do {
            try await forwarding.value
            forwardError = nil
        } catch {
            forwardError = error
        }
        deadline.cancel()
        narrate("t=\(Self.elapsed(since: started))  drained")
        display.cancel()
        _ = await display.value
        progress.finish(scheduler: scheduler, store: store, sink: sinkName, receiver: receiver, written: app.written)

        let pendingLeft = (try? store.stats().sinks.first { $0.name == sinkName }?.pending) ?? 0
        try? await transport.shutdown()
        storeRunning.cancel()
        if case .failure(let error) = await storeRunning.result {
            Diagnostics.warning("the spool's background work stopped: \(error)")
        }
        try? store.close()
        await receiver.stop()
        if let forwardError, !(forwardError is CancellationError) {
            Diagnostics.warning("the forwarder stopped: \(forwardError)")
        }
        let tally = receiver.tally
        let lost = (1...plan.entries).reduce(0) { $0 + (tally.ids.contains($1) ? 0 : 1) }
        return Outcome(path: path, written: app.written, tally: tally, lost: lost, pendingLeft: pendingLeft,
                       seconds: (ContinuousClock.now - started).seconds,
                       handlerFailures: app.handlerFailures)
    }

    /// Short retries and breaker cool-down, so the outage and the recovery fit in seconds.
    static func schedulerConfiguration(name: String) -> SinkScheduler.Configuration {
        var configuration = SinkScheduler.Configuration(name: name)
        configuration.maxBatchEntries = 250
        configuration.maxBatchWait = .milliseconds(200)
        configuration.pollInterval = .milliseconds(50)
        var retry = RetryPolicy()
        retry.quickBase = .milliseconds(50)
        retry.quickJitter = .milliseconds(50)
        retry.slowBase = .milliseconds(250)
        retry.minimumBackoff = .milliseconds(50)
        retry.maximumBackoff = .milliseconds(500)
        retry.maximumRetryAfter = .seconds(1)
        retry.misconfigurationPause = .seconds(1)
        configuration.retry = retry
        configuration.breaker.failureThreshold = 3
        configuration.breaker.coolDown = .seconds(1)
        return configuration
    }

    /// Breaker changes and other loud events of the forwarder, as lines of the story.
    private static func narrateEvent(_ entry: LogEntry, _ narrate: @Sendable (String) -> Void) {
        if entry.topic == "spool.forward.breaker", case .string(let to)? = entry.context?["to"] {
            let meaning = switch to {
            case "open": "requests stop for the 1 s cool-down; the spool keeps everything"
            case "half-open", "halfOpen": "one trial request"
            default: "sending normally again"
            }
            narrate("         circuit breaker \(to): \(meaning)")
        } else {
            narrate("         forwarder: \(entry.message)")
        }
    }

    /// `1 request`, `2 requests`.
    static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    static func elapsed(since start: ContinuousClock.Instant) -> String {
        String(format: "%.1f s", (ContinuousClock.now - start).seconds)
    }
}

extension Duration {
    /// The duration in seconds, with its fraction.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
