import ArgumentParser
import Foundation
import Spool
import SpoolForwarding

/// Options shared by `spool bench forward` and `spool bench drain`.
struct ForwardBenchOptions: ParsableArguments {
    @Option(help: "Entries to send.") var entries = 1_000_000
    @Flag(help: "The old micro-benchmark instead of the corpus: fixed ASCII messages of --message-bytes, no context, one level and topic.")
    var synthetic = false
    @Option(help: "Message size in bytes (--synthetic only).") var messageBytes = 200
    @Option(help: "Most entries per request (a request also stops at 1 MiB), and rows per transaction of the raw drain.") var batchSize = SinkScheduler.Configuration.defaultMaxBatchEntries
    @Option(help: "Batches in flight (the scheduler's default: 2).") var maxInFlight = 2
    @Option(help: "Directory for the spool file (default: a new temporary directory, removed after).") var directory: String?
    @Option(help: "Seconds to wait for the receiver's count after the forwarder returned.") var settleSeconds = 10.0

    func validate() throws {
        guard entries >= 1 else { throw ValidationError("--entries must be at least 1.") }
        guard batchSize >= 1, maxInFlight >= 1 else { throw ValidationError("--batch-size and --max-in-flight must be at least 1.") }
    }

    /// The workload's name, for the first line of the report.
    var workload: String {
        synthetic ? "synthetic micro-benchmark, \(messageBytes)-byte ASCII messages" : "corpus (logfmt, JSON with escapes, non-ASCII, 50–2,000 bytes, half with context)"
    }

    /// What `produce` is given: nil for the corpus.
    var syntheticBytes: Int? { synthetic ? messageBytes : nil }

    /// Checks that the receiver parsed every entry (each sequence number at least once, no body
    /// refused) and the spool is empty.
    func verify(_ pipeline: ForwardPipeline) async throws {
        let counts = await pipeline.receiver.wait(forDistinct: entries, timeout: .milliseconds(Int64(settleSeconds * 1000)))
        let left = try pipeline.entriesLeft()
        guard let counts, counts.distinct == entries, counts.invalid == 0, left == 0 else {
            throw BenchFailure(message: "the receiver saw \(counts?.distinct ?? -1) distinct of \(entries) entries (\(counts?.count ?? -1) in all, \(counts?.invalid ?? -1) bodies refused); \(left) left in the spool")
        }
    }
}

/// `spool bench forward`: end to end, ingest and forwarding at once.
struct BenchForward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "End to end: append, spool, gzip Loki JSON over loopback HTTP to a parsing receiver, delete.",
        discussion: """
            A producer thread appends --entries entries of the corpus (committed mode, 1000 per \
            transaction, as `spool ingest`), while a forwarder with one Loki sink sends them, \
            gzip-compressed, to `spool bench receiver`, a process of its own on 127.0.0.1 that \
            inflates and parses every body and checks every sequence number; acknowledged entries \
            are deleted. The clock stops when the forwarder has nothing pending after the producer \
            finished. Prints entries/s, this process's CPU seconds (getrusage user+sys) per \
            million entries, the receiver's CPU apart, and peak RSS. --synthetic: the old \
            micro-benchmark (fixed ASCII messages).

            Example:
              swift run -c release spool bench forward --entries 1000000
            """
    )

    @OptionGroup var options: ForwardBenchOptions

    func run() async throws {
        let receiver = try ReceiverProcess()
        let pipeline = try ForwardPipeline(directory: options.directory, batchSize: options.batchSize, maxInFlight: options.maxInFlight, receiver: receiver)
        do {
            let count = options.entries, bytes = options.syntheticBytes
            let sampler = RSSSampler()
            let before = ResourceUsage.now()
            let start = ContinuousClock.now
            try await pipeline.forward(whileProducing: { try await pipeline.produce(count: count, messageBytes: bytes) })
            let seconds = elapsedSeconds(since: start)
            let usage = ResourceUsage.now() - before
            try await options.verify(pipeline)
            print("spool bench forward: \(count) entries, \(options.workload), batch \(options.batchSize), \(options.maxInFlight) in flight")
            printPhase("end to end", entries: count, seconds: seconds, usage: usage)
            let parts = sampler.stop()
            print(String(format: "  peak RSS (ru_maxrss): %.1f MiB; sampled every 20 ms: anonymous %.1f MiB, file-backed (libraries, the -shm WAL index) %.1f MiB, shmem %.1f MiB",
                         ResourceUsage.peakRSSMiB, parts.anonymous, parts.file, parts.shared))
        } catch {
            await pipeline.finish()
            _ = await receiver.stop()
            throw error
        }
        await pipeline.finish()
        print("  receiver (another process): \(await receiver.stop())")
    }
}

/// `spool bench drain`: a backlog appended first, then drained.
struct BenchDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "A backlog (as after an outage) drained to a parsing receiver, against a raw SQLite drain; entries/s, CPU, peak RSS.",
        discussion: """
            The baseline first: the same backlog in a spool of its own, drained with the SQLite \
            C API alone (read --batch-size rows in id order, delete them in one transaction, no \
            encoding or sending). Then appends --entries entries of the corpus (timed on its own: committed \
            mode, 1000 per transaction), starts the forwarder with one Loki sink sending gzip to \
            `spool bench receiver` (another process, which parses every body) and times it until \
            nothing is pending. Prints both rates and their ratio, CPU seconds per million, and the \
            peak RSS of each phase (Linux VmHWM, reset between the phases) next to the process's \
            ru_maxrss.

            Example:
              swift run -c release spool bench drain --entries 10000000
            """
    )

    @OptionGroup var options: ForwardBenchOptions

    func run() async throws {
        let receiver = try ReceiverProcess()
        let pipeline = try ForwardPipeline(directory: options.directory, batchSize: options.batchSize, maxInFlight: options.maxInFlight, receiver: receiver)
        do {
            let count = options.entries
            print("spool bench drain: \(count) entries, \(options.workload), batch \(options.batchSize), \(options.maxInFlight) in flight")
            let raw = try await RawSQLiteDrain.run(directory: pipeline.directory, count: count, syntheticBytes: options.syntheticBytes,
                                                   batch: options.batchSize)
            printPhase("raw sqlite drain (baseline)", entries: count, seconds: raw.seconds, usage: raw.usage)
            ResourceUsage.resetPeak()
            var before = ResourceUsage.now()
            var start = ContinuousClock.now
            try await pipeline.produce(count: count, messageBytes: options.syntheticBytes)
            printPhase("append backlog", entries: count, seconds: elapsedSeconds(since: start), usage: ResourceUsage.now() - before)
            let appendPeak = ResourceUsage.windowPeakRSSMiB
            let stats = try pipeline.store.stats()
            print(String(format: "  spool: %.1f MiB file + %.1f MiB WAL", Double(stats.fileBytes) / 1048576, Double(stats.walBytes) / 1048576))

            let resetWorked = ResourceUsage.resetPeak()
            let sampler = RSSSampler()
            before = ResourceUsage.now()
            start = ContinuousClock.now
            try await pipeline.forward()
            let seconds = elapsedSeconds(since: start)
            let usage = ResourceUsage.now() - before
            let drainPeak = ResourceUsage.windowPeakRSSMiB
            let parts = sampler.stop()
            try await options.verify(pipeline)
            printPhase("drain", entries: count, seconds: seconds, usage: usage)
            print(String(format: "  drain / raw sqlite drain: %.2f", raw.seconds / seconds))
            if let appendPeak { print(String(format: "  peak RSS while appending (VmHWM): %.1f MiB", appendPeak)) }
            if let drainPeak, resetWorked { print(String(format: "  peak RSS while draining (VmHWM): %.1f MiB", drainPeak)) }
            print(String(format: "  of which, sampled every 20 ms: anonymous (heap, stacks) %.1f MiB, file-backed (libraries, the -shm WAL index) %.1f MiB, shmem %.1f MiB",
                         parts.anonymous, parts.file, parts.shared))
            print(String(format: "  peak RSS (ru_maxrss, whole run): %.1f MiB", ResourceUsage.peakRSSMiB))
        } catch {
            await pipeline.finish()
            _ = await receiver.stop()
            throw error
        }
        await pipeline.finish()
        print("  receiver (another process): \(await receiver.stop())")
    }
}

/// One phase's line: rate, this process's CPU, CPU per million entries.
func printPhase(_ name: String, entries: Int, seconds: Double, usage: ResourceUsage) {
    print(String(format: "  %@: %.2f s, %.0f entries/s, CPU %.2f s (user %.2f, sys %.2f), %.2f CPU s per million",
                 name, seconds, Double(entries) / seconds, usage.cpuSeconds, usage.userSeconds, usage.systemSeconds,
                 usage.cpuSeconds / Double(entries) * 1e6))
}
