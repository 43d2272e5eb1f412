import Spool

/// A destination reached without HTTP (the console, the spool's own counters): it takes a batch
/// itself and says what became of it with a ``Verdict``.
///
/// It is a ``SinkProtocol`` so that the one ``SinkScheduler`` runs it like any other sink:
/// claims under a lease, batching, the one retry loop, splitting, dead letters, pauses and
/// acknowledgements are the same. The only difference is the step in the middle: where an HTTP
/// sink is encoded, sent through the ``Transport`` and classified, the scheduler calls
/// ``deliver(_:sink:)``. `encode` and `classify` have defaults that the scheduler never uses.
///
/// ```swift
/// struct DevNullSink: LocalSink {
///     var kind: String { "null" }
///     func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict { .delivered }
/// }
/// ```
package protocol LocalSink: SinkProtocol {
    /// Takes a non-empty batch, in id order.
    ///
    /// - Parameters:
    ///   - entries: The batch.
    ///   - sink: The scheduler's name for this sink (its position in the spool).
    /// - Returns: ``Verdict/delivered`` when done; ``Verdict/retry(after:reason:)`` for a
    ///   transient failure (the batch is delivered again, so delivering must be idempotent or
    ///   harmless to repeat); ``Verdict/misconfigured(reason:)`` to pause and keep everything.
    func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict
}

extension LocalSink {
    /// A local sink is not encoded: the scheduler calls ``deliver(_:sink:)``. Throws, so a
    /// local sink passed to code that only knows HTTP fails loudly instead of dropping entries.
    package func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        throw SpoolError(.invalidArgument, "the \(kind) sink is delivered locally, not over HTTP")
    }

    /// Never used: a local sink's ``deliver(_:sink:)`` returns its verdict.
    package func classify(_ response: SinkResponse) -> Verdict {
        .misconfigured(reason: "the \(kind) sink is delivered locally, not over HTTP")
    }
}
