import Foundation
import Spool

extension SinkScheduler {
    /// The one retry loop: sends `entries` until the destination settles them. Transient
    /// failures are retried forever with backoff; 413 splits; a rejection splits down to the
    /// offending entries, which become dead letters; a misconfigured sink pauses and keeps all.
    /// - Parameter gate: nothing of the batch is sent before this has finished (the previous
    ///   batch's acknowledgement); the batch is encoded and compressed meanwhile.
    func deliver(_ entries: ArraySlice<StoredEntry>, attempts previous: Int, after gate: Task<Void, any Error>? = nil) async throws -> Settlement {
        var gate = gate
        var attempt = 0
        var reportedOutage = false
        while true {
            try Task.checkCancellation()
            // Shutting down: a batch back from its backoff is not sent again; it stays in the spool.
            if attempt > 0 && isStopping { throw CancellationError() }
            attempt += 1

            let verdict: Verdict
            var status: Int?
            // A refused connection is reported at once: nothing listens, and waiting for the
            // quick retries first only hides that for seconds.
            var refused = false
            if let local = sink as? any LocalSink {
                // Not HTTP (console, counters): the sink takes the batch itself; everything
                // around this step (limits, breaker, verdicts) is the same as for HTTP.
                try await passGate(&gate)
                try await bucket?.acquire()
                try await breaker.permit()
                try await holdLease()
                let started = clock.now
                verdict = await local.deliver(entries, sink: configuration.name)
                metrics.latency.recordNanoseconds(started.duration(to: clock.now).totalNanoseconds)
            } else {
                var encoded: SinkRequest?
                do {
                    encoded = try sink.encode(entries)
                } catch {
                    try await passGate(&gate)
                    return try await reject(entries, status: nil, reason: "could not encode: \(error.message)", attempts: previous + attempt)
                }
                // Held once, by `request`, which the transport consumes: the body is let go once
                // compressed, not kept through the round trip.
                guard let request = encoded.take() else {
                    // Nothing of these entries is for this destination (e.g. below its level).
                    gate.take()?.cancel()  // nothing is sent: no sync needed
                    return Settlement(delivered: entries.count)
                }
                let prepared = transport.prepare(request, credentials: configuration.credentials)
                try await passGate(&gate)
                try await bucket?.acquire()
                try await breaker.permit()
                // The lease renews itself while the scheduler runs; a lease lost meanwhile (also
                // during the waits just above, up to a breaker's cool-down) stops the attempt
                // here, right before anything is sent.
                try await holdLease()
                let started = clock.now
                let result = await transport.send(prepared)
                metrics.latency.recordNanoseconds(started.duration(to: clock.now).totalNanoseconds)

                switch result {
                case .success(let response):
                    status = response.status
                    // The destination has the batch; the acknowledgement is not on disk yet.
                    if (200..<300).contains(response.status) { CrashPoint.reached("forward.after-response") }
                    verdict = sink.classify(response)
                case .failure(let failure):
                    refused = failure.kind == .connectionRefused
                    verdict = failure.kind == .invalidURL
                        ? .misconfigured(reason: failure.message)
                        : .retry(after: nil, reason: failure.message)
                }
            }
            let transient: Bool, failed: Bool, misconfigured: Bool
            switch verdict {
            case .retry: (transient, failed, misconfigured) = (true, true, false)
            case .misconfigured: (transient, failed, misconfigured) = (false, true, true)
            case .tooLarge, .rejected: (transient, failed, misconfigured) = (false, true, false)
            case .delivered, .partiallyDelivered: (transient, failed, misconfigured) = (false, false, false)
            }
            breaker.record(success: !transient)
            count(retry: transient, failed: failed, failing: transient || misconfigured, paused: false)

            switch verdict {
            case .delivered:
                if reportedOutage { reportRecovery(after: attempt) }
                consecutiveRejections.store(0, ordering: .relaxed)
                return Settlement(delivered: entries.count)

            case .partiallyDelivered(let rejected, let reason):
                report(event(.warning, "spool.forward.partial", "sink '\(configuration.name)' accepted a batch but dropped \(rejected) of its \(entries.count) entries: \(reason)",
                             ["rejected": .int(Int64(rejected)), "reason": .string(reason)]))
                consecutiveRejections.store(0, ordering: .relaxed)
                return Settlement(delivered: max(0, entries.count - rejected), rejectedByDestination: rejected, rejectionReason: reason)

            case .retry(let after, let reason):
                metrics.failed.increment()
                metrics.retried.increment()
                if (attempt == configuration.retry.quickAttempts || refused) && !reportedOutage {
                    reportedOutage = true
                    report(event(.error, "spool.forward.retrying", "sink '\(configuration.name)' is failing (\(reason)); the batch stays in the spool and is retried with backoff",
                                 ["attempts": .int(Int64(attempt)), "reason": .string(reason), "entries": .int(Int64(entries.count))]))
                }
                // Shutting down: no new attempt; the batch stays in the spool for the next run.
                if isStopping { throw CancellationError() }
                try await waitBeforeRetry(nextRandomDelay(afterAttempt: attempt, retryAfter: after))

            case .tooLarge(let reason):
                metrics.failed.increment()
                if entries.count == 1 {
                    return try await reject(entries, status: status ?? 413, reason: reason, attempts: previous + attempt)
                }
                return try await split(entries, attempts: previous + attempt)

            case .rejected(let reason):
                metrics.failed.increment()
                return try await reject(entries, status: status, reason: reason, attempts: previous + attempt)

            case .misconfigured(let reason):
                metrics.failed.increment()
                markPaused(.misconfigured)
                report(event(.critical, "spool.forward.misconfigured",
                             "sink '\(configuration.name)' is misconfigured (\(Self.answer(status, reason))). Nothing is dropped; the sink pauses for \(configuration.retry.misconfigurationPause) and tries again. Check its URL, credentials and tenant.",
                             ["status": status.map { .int(Int64($0)) } ?? .null, "reason": .string(reason)]))
                if isStopping { throw CancellationError() }
                try await waitBeforeRetry(configuration.retry.misconfigurationPause)
            }
        }
    }

    /// Waits for `gate` (once: it is taken), passing on cancellation; then a cancelled or
    /// stopping scheduler sends nothing: the batch stays in the spool, as a stopped retry does.
    private func passGate(_ gate: inout Task<Void, any Error>?) async throws {
        guard let waiting = gate.take() else { return }
        try await withTaskCancellationHandler {
            try await waiting.value
        } onCancel: {
            waiting.cancel()
        }
        try Task.checkCancellation()
        if isStopping { throw CancellationError() }
    }

    /// A rejected batch: split to isolate the offending entries; a single one is dead-lettered.
    private func reject(_ entries: ArraySlice<StoredEntry>, status: Int?, reason: String, attempts: Int) async throws -> Settlement {
        guard entries.count == 1, let entry = entries.first else {
            return try await split(entries, attempts: attempts)
        }
        // Every entry refused, one after the other: the sink is misconfigured, not the entries.
        // Pause and keep the rest rather than dead-letter the whole backlog.
        let limit = configuration.pauseAfterConsecutiveRejections
        if limit > 0 && consecutiveRejections.add(1, ordering: .relaxed).newValue > limit {
            markPaused(.rejections)
            report(event(.critical, "spool.forward.misconfigured",
                         "sink '\(configuration.name)' rejected \(limit) entries in a row (the last: \(Self.answer(status, String(reason.prefix(200))))): it is most likely misconfigured (its URL, schema, tenant or labels), not fed bad entries. It pauses for \(configuration.retry.misconfigurationPause), keeping every entry not yet settled, and tries again; the refused entries of settled batches are dead letters (spool dlq list --sink \(configuration.name)).",
                         ["status": status.map { .int(Int64($0)) } ?? .null, "reason": .string(String(reason.prefix(512))), "consecutive_rejections": .int(Int64(limit))]))
            if isStopping { throw CancellationError() }
            try await waitBeforeRetry(configuration.retry.misconfigurationPause)
            return try await deliver(entries, attempts: attempts)
        }
        // Reported once its batch's acknowledgement has stored it (`reportDeadLetters`): a pause
        // before then keeps the entry in the spool, and a report now would be untrue.
        return Settlement(deadLetters: [DeadLetter(entryID: entry.id, status: status, reason: reason, attempts: attempts)])
    }

    /// Halves, in order.
    private func split(_ entries: ArraySlice<StoredEntry>, attempts: Int) async throws -> Settlement {
        let middle = entries.startIndex + entries.count / 2
        var settlement = try await deliver(entries[..<middle], attempts: attempts)
        settlement.add(try await deliver(entries[middle...], attempts: attempts))
        return settlement
    }

    /// The answer in a report: the reason, which names the status itself when it came from a
    /// response (`HTTP 400: …`; it was written twice), or the status before it.
    static func answer(_ status: Int?, _ reason: String) -> String {
        reason.hasPrefix("HTTP ") ? reason : "\(status.map { "HTTP \($0)" } ?? "no response"): \(reason)"
    }

    /// One `spool.forward.dead_letter` report per dead letter an acknowledgement stored.
    func reportDeadLetters(_ letters: [DeadLetter]) {
        for letter in letters {
            report(event(.error, "spool.forward.dead_letter", "sink '\(configuration.name)' rejected entry \(letter.entryID) for good: it is kept in dead_letters",
                         ["entry_id": .int(letter.entryID), "status": letter.status.map { .int(Int64($0)) } ?? .null,
                          "reason": .string(String(letter.reason.prefix(512)))]))
        }
    }

    private func reportRecovery(after attempts: Int) {
        report(event(.notice, "spool.forward.recovered", "sink '\(configuration.name)' delivers again after \(attempts) attempts",
                     ["attempts": .int(Int64(attempts))]))
    }

    func event(_ level: LogLevel, _ topic: String, _ message: String, _ context: [String: JSONValue]) -> LogEntry {
        var context = context
        context["sink"] = .string(configuration.name)
        return LogEntry(timestamp: clock.now.nanoseconds, level: level, topic: topic, message: message, context: context)
    }
}
