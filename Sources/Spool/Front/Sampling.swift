import Synchronization

/// How many entries of the chatty levels a logger keeps: for example 1% of debug.
///
/// Only `trace`, `debug` and `info` can be sampled; `notice` and above are always kept, so
/// sampling never hides a warning or an error. Sampling is deterministic: a rate of 0.01 keeps
/// the 100th, 200th, 300th… entry of that level, so a test (or an operator reading the logs)
/// can predict what is kept. Every dropped entry is counted
/// (in the logger's statistics). The decision is made before the message and context
/// are evaluated, so a dropped entry costs a counter increment.
///
/// ```swift
/// var configuration = SpoolLogger.Configuration()
/// configuration.sampling = Sampling(debug: 0.01)   // keep 1% of debug
/// ```
public struct Sampling: Sendable, Hashable {
    /// Share of `trace` entries kept, 0…1. Default 1 (all).
    package var trace: Double
    /// Share of `debug` entries kept, 0…1. Default 1 (all).
    package var debug: Double
    /// Share of `info` entries kept, 0…1. Default 1 (all).
    package var info: Double

    /// Keeps everything.
    public static let keepAll = Sampling()

    /// Creates a sampling rule; rates are clamped to 0…1.
    /// - Parameters:
    ///   - trace: Share of `trace` entries kept.
    ///   - debug: Share of `debug` entries kept.
    ///   - info: Share of `info` entries kept.
    public init(trace: Double = 1, debug: Double = 1, info: Double = 1) {
        self.trace = trace
        self.debug = debug
        self.info = info
    }

    /// The rate for `level`: 1 for `notice` and above.
    package func rate(for level: LogLevel) -> Double {
        switch level {
        case .trace: trace
        case .debug: debug
        case .info: info
        default: 1
        }
    }
}

/// The running state of a ``Sampling`` rule, shared by a logger and its children.
package final class Sampler: Sendable {
    /// One level's counters. Nil in ``Sampler`` for a level kept entirely, so the common case
    /// costs one nil check.
    final class Level: Sendable {
        /// Kept per million, 0…999_999.
        let perMillion: UInt64
        let seen = Atomic<UInt64>(0)
        let dropped = Atomic<Int>(0)

        init(perMillion: UInt64) { self.perMillion = perMillion }

        /// Keeps entry n when n·rate crosses an integer: evenly spread, exact over any window.
        func keeps() -> Bool {
            let n = seen.add(1, ordering: .relaxed).newValue
            let kept = (n &* perMillion) / 1_000_000 != ((n &- 1) &* perMillion) / 1_000_000
            if !kept { dropped.add(1, ordering: .relaxed) }
            return kept
        }
    }

    let trace: Level?
    let debug: Level?
    let info: Level?

    init(_ sampling: Sampling) {
        func level(_ rate: Double) -> Level? {
            let clamped = rate.isNaN ? 1 : min(max(rate, 0), 1)
            let perMillion = UInt64((clamped * 1_000_000).rounded())
            return perMillion >= 1_000_000 ? nil : Level(perMillion: perMillion)
        }
        trace = level(sampling.trace)
        debug = level(sampling.debug)
        info = level(sampling.info)
    }

    /// Whether to keep the next entry of `level`. Always true for `notice` and above.
    @inline(__always)
    func keeps(_ level: LogLevel) -> Bool {
        switch level {
        case .trace: trace?.keeps() ?? true
        case .debug: debug?.keeps() ?? true
        case .info: info?.keeps() ?? true
        default: true
        }
    }

    /// Entries dropped so far, per sampled level (levels never dropped are absent).
    var dropped: [LogLevel: Int] {
        var counts: [LogLevel: Int] = [:]
        for (level, sampler) in [(LogLevel.trace, trace), (.debug, debug), (.info, info)] {
            if let sampler { counts[level] = sampler.dropped.load(ordering: .relaxed) }
        }
        return counts
    }
}
