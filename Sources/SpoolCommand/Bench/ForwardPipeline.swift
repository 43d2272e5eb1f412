import Foundation
import Spool
import SpoolForwarding
import Synchronization

/// The path `spool bench forward` and `spool bench drain` measure: entries of the ``Corpus``
/// (or, with `--synthetic`, the old fixed lines) appended through ``SpoolStore`` in committed
/// mode, 1000 per `append(contentsOf:)` as `spool ingest` does, then claimed by one
/// ``SinkScheduler`` with a ``LokiSink``, sent as gzip Loki JSON through the ``Transport`` to a
/// `spool bench receiver` process on loopback that parses every body, acknowledged and deleted.
final class ForwardPipeline: Sendable {
    let store: SpoolStore
    let receiver: ReceiverProcess
    let transport: Transport
    let scheduler: SinkScheduler
    let forwarder: Forwarder
    let directory: String
    private let removesDirectory: Bool

    /// Entries per `append(contentsOf:)`: `spool ingest`'s batch.
    static let appendBatch = LineIngester.batchSize

    init(directory: String?, batchSize: Int, maxInFlight: Int, receiver: ReceiverProcess) throws {
        removesDirectory = directory == nil
        self.directory = directory ?? NSTemporaryDirectory() + "/spool-bench-forward-\(getpid())"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        var configuration = SpoolStore.Configuration(durability: .committed)
        configuration.maximumBytes = nil  // a 10,000,000-entry backlog is over the default bound
        configuration.report = StandardError.writeJSONLine
        store = try SpoolStore(path: self.directory + "/bench.spool", configuration: configuration)
        self.receiver = receiver
        transport = Transport()
        let sink = try LokiSink(configuration: .init(url: "http://127.0.0.1:\(receiver.port)", labels: ["service": "bench"]))
        var schedulerConfiguration = SinkScheduler.Configuration(name: "loki")
        schedulerConfiguration.maxBatchEntries = batchSize
        schedulerConfiguration.maxInFlight = maxInFlight
        // Registered before the first append, so no entry is ever without a sink to wait for.
        try store.registerSink(schedulerConfiguration.name)
        scheduler = SinkScheduler(store: store, sink: sink, transport: transport, configuration: schedulerConfiguration,
                                  owner: "spool bench pid \(getpid())")
        forwarder = Forwarder(schedulers: [scheduler], transport: transport)
    }

    /// Closes everything and removes the spool unless the directory was given.
    func finish() async {
        try? await transport.shutdown()
        try? store.close()
        if removesDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Appends `count` entries of about `messageBytes` on a thread of its own (a blocking
    /// commit must not hold a thread of the cooperative pool).
    func produce(count: Int, messageBytes: Int?) async throws {
        let store = self.store
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { () throws(SpoolError) in
                    if let messageBytes {
                        try Self.append(count: count, messageBytes: messageBytes, to: store)
                    } else {
                        try Self.appendCorpus(count: count, to: store)
                    }
                })
            }
        }
    }

    /// Appends the first `count` entries of the ``Corpus``, 1000 per `append(contentsOf:)`.
    static func appendCorpus(count: Int, to store: SpoolStore) throws(SpoolError) {
        var corpus = Corpus()
        var batch: [LogEntry] = []
        batch.reserveCapacity(appendBatch)
        var written = 0
        while written < count {
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            for seq in written..<min(count, written + appendBatch) {
                let item = corpus.item(seq: seq, withLine: false)
                batch.append(LogEntry(timestamp: now, level: item.level, topic: item.topic, message: item.message, context: item.context))
            }
            try store.append(contentsOf: batch)
            written += batch.count
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Appends `count` entries of about `messageBytes`, 1000 per `append(contentsOf:)`, on the
    /// calling thread (`spool bench drain`'s backlog and `spool bench backlog`).
    static func append(count: Int, messageBytes: Int, to store: SpoolStore) throws(SpoolError) {
        // A fixed tail and a varying head: a log line's shape at the cost of one concatenation.
        let tail = " GET /api/v1/orders status=200 duration_ms=12 user=u1013 region=eu-west-1 "
        let padding = String(repeating: "x", count: max(0, messageBytes - tail.utf8.count - 8))
        let body = tail + padding
        let topic = "bench"
        var batch: [LogEntry] = []
        batch.reserveCapacity(appendBatch)
        var written = 0
        while written < count {
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            for index in written..<min(count, written + appendBatch) {
                batch.append(LogEntry(timestamp: now, level: .info, topic: topic, message: "seq=" + String(index) + body))
            }
            try store.append(contentsOf: batch)
            written += batch.count
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Forwards until nothing is pending. With `whileProducing`, the scheduler starts at once
    /// and is told to finish only when `whileProducing` has returned (as `spool forward --stdin
    /// --until-empty` does); without, it drains the backlog with `until: .empty`.
    /// The store's background work (checkpoints) runs meanwhile, as under `spool forward`.
    func forward(whileProducing producer: (@Sendable () async throws -> Void)? = nil) async throws {
        let forwarder = self.forwarder
        let scheduler = self.scheduler
        try await store.whileRunning {
            guard let producer else {
                try await forwarder.run(until: .empty)
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await forwarder.run(until: .cancelled) }
                group.addTask {
                    try await producer()
                    scheduler.finishWhenEmpty()
                }
                try await group.waitForAll()
            }
        }
    }

    /// Entries left in the spool (0 once everything is delivered and deleted).
    func entriesLeft() throws -> Int64 {
        try store.stats().entries
    }
}

/// Process-wide resource figures: CPU from getrusage, peak RSS from the kernel.
struct ResourceUsage {
    /// User + system CPU seconds of the whole process so far.
    var cpuSeconds: Double
    var userSeconds: Double
    var systemSeconds: Double

    static func now() -> ResourceUsage {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return ResourceUsage(cpuSeconds: user + system, userSeconds: user, systemSeconds: system)
    }

    static func - (lhs: ResourceUsage, rhs: ResourceUsage) -> ResourceUsage {
        ResourceUsage(cpuSeconds: lhs.cpuSeconds - rhs.cpuSeconds, userSeconds: lhs.userSeconds - rhs.userSeconds,
                      systemSeconds: lhs.systemSeconds - rhs.systemSeconds)
    }

    /// `ru_maxrss`: the process's peak resident set since it started, in MiB.
    static var peakRSSMiB: Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024  // KiB on Linux
    }

    /// The peak resident set since the last ``resetPeak()`` (Linux `VmHWM`), in MiB.
    static var windowPeakRSSMiB: Double? { status("VmHWM:") }
    /// The resident set now (Linux `VmRSS`), in MiB.
    static var currentRSSMiB: Double? { status("VmRSS:") }
    /// The anonymous part of the resident set now (heap, stacks; Linux `RssAnon`), in MiB: what
    /// the process allocated, as opposed to mapped library text (`RssFile`).
    static var anonymousRSSMiB: Double? { status("RssAnon:") }
    /// The file-backed part of the resident set now (libraries, Linux `RssFile`), in MiB.
    static var fileRSSMiB: Double? { status("RssFile:") }
    /// The shared-memory part of the resident set now (SysV/tmpfs shared memory; SQLite's `-shm` file is file-backed instead; Linux
    /// `RssShmem`), in MiB.
    static var sharedRSSMiB: Double? { status("RssShmem:") }

    /// Resets `VmHWM` to the current RSS (Linux ≥ 4.0: `5` to `/proc/self/clear_refs`), so a
    /// phase's peak can be told from an earlier phase's. `ru_maxrss` is not reset.
    @discardableResult
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    private static func status(_ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
              let kib = Double(line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        else { return nil }
        return kib / 1024
    }
}

/// Samples the anonymous and file-backed resident set every `interval` while a phase runs:
/// the kernel keeps a peak only for their sum.
final class RSSSampler: Sendable {
    private let peaks = Mutex<(anonymous: Double, file: Double, shared: Double)>((0, 0, 0))
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(interval: Duration = .milliseconds(20)) {
        let sampling = Task.detached { [self] in
            while !Task.isCancelled {
                let anonymous = ResourceUsage.anonymousRSSMiB ?? 0, file = ResourceUsage.fileRSSMiB ?? 0
                let shared = ResourceUsage.sharedRSSMiB ?? 0
                peaks.withLock { $0 = (max($0.anonymous, anonymous), max($0.file, file), max($0.shared, shared)) }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = sampling }
    }

    /// Stops sampling. - Returns: the peaks seen, in MiB.
    func stop() -> (anonymous: Double, file: Double, shared: Double) {
        task.withLock { $0?.cancel() }
        return peaks.withLock { $0 }
    }
}

func elapsedSeconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
