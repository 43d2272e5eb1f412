import Spool

/// A sink that only sends entries at or above a level; the others are acknowledged with the
/// batch they came in (``SinkProtocol/encode(_:)``'s contract for filtered entries), so they
/// leave the spool once every sink has passed them.
///
/// What a configuration's `minimum_level` becomes for sinks without a level option of their own.
struct LevelFilteredSink: SinkProtocol {
    let base: any SinkProtocol
    let minimumLevel: LogLevel

    var kind: String { base.kind }
    var maximumEntriesPerRequest: Int? { base.maximumEntriesPerRequest }

    /// The base's request for the entries at or above the level, or nil when there is none.
    func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        if entries.allSatisfy({ $0.level >= minimumLevel }) { return try base.encode(entries) }
        let kept = entries.filter { $0.level >= minimumLevel }
        guard !kept.isEmpty else { return nil }
        return try base.encode(kept[...])
    }

    func classify(_ response: SinkResponse) -> Verdict { base.classify(response) }
}

/// ``LevelFilteredSink`` for a ``LocalSink`` (the console): the scheduler delivers a local sink
/// itself, so the filter must stay a local sink. Entries below the level are acknowledged with
/// their batch.
struct LevelFilteredLocalSink: LocalSink {
    let base: any LocalSink
    let minimumLevel: LogLevel

    var kind: String { base.kind }
    var maximumEntriesPerRequest: Int? { base.maximumEntriesPerRequest }

    /// The base's verdict for the entries at or above the level; delivered when there is none.
    func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict {
        if entries.allSatisfy({ $0.level >= minimumLevel }) { return await base.deliver(entries, sink: sink) }
        let kept = entries.filter { $0.level >= minimumLevel }
        guard !kept.isEmpty else { return .delivered }
        return await base.deliver(kept[...], sink: sink)
    }
}
