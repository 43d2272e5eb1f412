import ArgumentParser
import Foundation
import Spool

/// Options shared by `spool bench forward` and `spool bench drain`.
struct ForwardBenchOptions: ParsableArguments {
    @Option(help: "Entries to send.") var entries = 1_000_000
    @Option(help: "Message size in bytes.") var messageBytes = 200
    @Option(help: "Most entries per request (the scheduler's default: 1000).") var batchSize = 1000
    @Option(help: "Batches in flight (the scheduler's default: 2).") var maxInFlight = 2
    @Option(help: "Directory for the spool file (default: a new temporary directory, removed after).") var directory: String?
    @Option(help: "Seconds to wait for the receiver's count after the forwarder returned.") var settleSeconds = 10.0

    func validate() throws {
        guard entries >= 1 else { throw ValidationError("--entries must be at least 1.") }
        guard batchSize >= 1, maxInFlight >= 1 else { throw ValidationError("--batch-size and --max-in-flight must be at least 1.") }
    }

    /// Checks that the receiver counted every entry and the spool is empty.
    func verify(_ pipeline: ForwardPipeline) async throws {
        let arrived = await pipeline.receiver.wait(forCount: entries, timeout: .milliseconds(Int64(settleSeconds * 1000)))
        let left = try pipeline.entriesLeft()
        guard arrived, pipeline.receiver.count == entries, left == 0 else {
            throw BenchFailure(message: "the receiver counted \(pipeline.receiver.count) of \(entries) entries; \(left) left in the spool")
        }
    }
}

/// `spool bench forward`: end to end, ingest and forwarding at once.
struct BenchForward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "End to end: append, spool, Loki JSON over loopback HTTP to a counting receiver, delete.",
        discussion: """
            A producer thread appends --entries entries of about --message-bytes (committed mode, \
            1000 per transaction, as `spool ingest`), while a forwarder with one Loki sink sends \
            them to an in-process HTTP receiver on 127.0.0.1 that counts them and answers 204; \
            acknowledged entries are deleted. The clock stops when the forwarder has nothing \
            pending after the producer finished. Prints entries/s, process CPU seconds \
            (getrusage user+sys, the receiver's included and shown apart) and peak RSS.

            Example:
              swift run -c release spool bench forward --entries 1000000
            """
    )

    @OptionGroup var options: ForwardBenchOptions

    func run() async throws {
        let pipeline = try ForwardPipeline(directory: options.directory, batchSize: options.batchSize, maxInFlight: options.maxInFlight)
        do {
            let count = options.entries, bytes = options.messageBytes
            let sampler = RSSSampler()
            let before = ResourceUsage.now()
            let start = ContinuousClock.now
            try await pipeline.forward(whileProducing: { try await pipeline.produce(count: count, messageBytes: bytes) })
            let seconds = elapsedSeconds(since: start)
            let usage = ResourceUsage.now() - before
            try await options.verify(pipeline)
            print("spool bench forward: \(count) entries of \(bytes) bytes, batch \(options.batchSize), \(options.maxInFlight) in flight")
            printPhase("end to end", entries: count, seconds: seconds, usage: usage, receiver: pipeline.receiver)
            let parts = sampler.stop()
            print(String(format: "  peak RSS (ru_maxrss): %.1f MiB; sampled every 20 ms: anonymous %.1f MiB, file-backed (libraries, the -shm WAL index) %.1f MiB, shmem %.1f MiB",
                         ResourceUsage.peakRSSMiB, parts.anonymous, parts.file, parts.shared))
        } catch {
            await pipeline.finish()
            throw error
        }
        await pipeline.finish()
    }
}

/// `spool bench drain`: a backlog appended first, then drained.
struct BenchDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "A backlog (as after an outage) drained to a counting receiver; entries/s, CPU, peak RSS.",
        discussion: """
            Appends --entries entries first (timed on its own: committed mode, 1000 per \
            transaction), then starts the forwarder with one Loki sink and times it until nothing \
            is pending. The peak RSS of each phase is reported (Linux VmHWM, reset between the \
            phases) next to the process's ru_maxrss.

            Example:
              swift run -c release spool bench drain --entries 10000000
            """
    )

    @OptionGroup var options: ForwardBenchOptions

    func run() async throws {
        let pipeline = try ForwardPipeline(directory: options.directory, batchSize: options.batchSize, maxInFlight: options.maxInFlight)
        do {
            let count = options.entries
            print("spool bench drain: \(count) entries of \(options.messageBytes) bytes, batch \(options.batchSize), \(options.maxInFlight) in flight")
            ResourceUsage.resetPeak()
            var before = ResourceUsage.now()
            var start = ContinuousClock.now
            try await pipeline.produce(count: count, messageBytes: options.messageBytes)
            printPhase("append backlog", entries: count, seconds: elapsedSeconds(since: start), usage: ResourceUsage.now() - before, receiver: nil)
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
            printPhase("drain", entries: count, seconds: seconds, usage: usage, receiver: pipeline.receiver)
            if let appendPeak { print(String(format: "  peak RSS while appending (VmHWM): %.1f MiB", appendPeak)) }
            if let drainPeak, resetWorked { print(String(format: "  peak RSS while draining (VmHWM): %.1f MiB", drainPeak)) }
            print(String(format: "  of which, sampled every 20 ms: anonymous (heap, stacks) %.1f MiB, file-backed (libraries, the -shm WAL index) %.1f MiB, shmem %.1f MiB",
                         parts.anonymous, parts.file, parts.shared))
            print(String(format: "  peak RSS (ru_maxrss, whole run): %.1f MiB", ResourceUsage.peakRSSMiB))
        } catch {
            await pipeline.finish()
            throw error
        }
        await pipeline.finish()
    }
}

/// One phase's line: rate, CPU (and the receiver's share of it).
func printPhase(_ name: String, entries: Int, seconds: Double, usage: ResourceUsage, receiver: CountingReceiver?) {
    print(String(format: "  %@: %.2f s, %.0f entries/s, CPU %.2f s (user %.2f, sys %.2f), %.2f CPU s per million",
                 name, seconds, Double(entries) / seconds, usage.cpuSeconds, usage.userSeconds, usage.systemSeconds,
                 usage.cpuSeconds / Double(entries) * 1e6))
    if let receiver {
        print(String(format: "  receiver: %d requests, %.2f CPU s inflating and counting (included above)",
                     receiver.requests, receiver.countingCPUSeconds))
    }
}
