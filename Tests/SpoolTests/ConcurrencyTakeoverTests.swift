import Foundation
import Logging
import Spool
import SpoolTestServer
import Synchronization
import Testing

/// Many threads logging into one spool while two real `spool forward` processes compete for the
/// same sink's lease; the holder is killed mid-request and the other takes over.
@Suite struct ConcurrencyTakeoverTests {
    /// Logging threads, entries each thread logs per phase (before the forwarders start, while
    /// they compete, during the takeover), batch size and batches in flight per forwarder.
    static let (threads, perPhase, batch, window) = (16, 100, 50, 2)
    /// The lease: the takeover waits for it to lapse, so short (the holder renews it every
    /// third of its duration while it runs, docs/architecture.md §6); longer under
    /// ThreadSanitizer, whose slowdown could otherwise let a live holder's renewal come late.
    static let leaseMs = Sanitizer.thread ? 8000 : 3000

    @Test func sixteenThreadsLogWhileTwoForwardersCompeteAndTheSurvivorTakesOverWithinTheWindow() async throws {
        let rig = ForwardCommandRig()
        let failures = Mutex<[LogEntry]>([])
        var storeConfiguration = SpoolStore.Configuration(durability: .committed)
        storeConfiguration.report = { entry in failures.withLock { $0.append(entry) } }
        let store = try SpoolStore(path: rig.spool, configuration: storeConfiguration)
        defer { try? store.close() }
        try store.registerSink("http")
        var logConfiguration = SpoolLogger.Configuration()
        logConfiguration.fallback = ClosureHandler { entry in failures.withLock { $0.append(entry) } }
        let log = SpoolLogger(topic: "load", minimumLevel: .trace, handlers: [SpoolStoreHandler(store)], configuration: logConfiguration)
        // Half the threads log through SpoolLogger, half through swift-log's Logger.
        let swiftLog = Logger(label: "load.swift-log") { SpoolLogHandler(label: $0, logger: log) }
        let logPhase = { @Sendable (phase: Int) async in
            await onThreads(Self.threads) { thread in
                for n in phase * Self.perPhase..<(phase + 1) * Self.perPhase {
                    if thread % 2 == 0 { log.info("t\(thread) n\(n)") } else { swiftLog.info("t\(thread) n\(n)") }
                }
            }
        }

        let gate = Gate()
        defer { gate.open() }
        // The first forwarder sends to /a: six batches acknowledged, then its window held at the
        // server. The second sends to /b, so every request says which process sent it.
        let behaviour = Behaviour.when({ $0.path == "/a" }, .first(6, .ok(), then: .held(by: gate, .ok())), otherwise: .ok())
        try await TestHTTPServer.withServer(behaviour: behaviour) { server in
            // A held request must not time out and be sent again before the kill.
            var base = rig.base
            if let timeout = base.firstIndex(of: "--request-timeout-ms") { base[timeout + 1] = "60000" }
            let flags = { (path: String) in
                base + ["--http", server.url(path: path), "--name", "http", "--batch-size", "\(Self.batch)",
                            "--max-in-flight", "\(Self.window)", "--lease-ms", "\(Self.leaseMs)", "--wait-for-lease"]
            }
            // A backlog first, so the first forwarder's batches are full and its window fills
            // (one that keeps pace with the loggers has a single batch out).
            await logPhase(0)
            let first = try SpoolBinary.Running(flags("/a"))
            async let secondPhase: Void = logPhase(1)
            try await server.waitForRequests(1, timeout: .seconds(20))
            let second = try SpoolBinary.Running(flags("/b"))
            // Six batches acknowledged, the window held at the server: kill mid-request. (At least
            // one request held: on a loaded machine the second may not have left yet, which only
            // makes the duplicated window smaller.)
            try await server.waitUntil(timeout: .seconds(20)) { $0.requestsReceived >= 7 && $0.inFlightRequests >= 1 }
            first.send(SIGKILL)
            let beforeKill = server.requests
            let killed = try first.finish(timeout: .seconds(10))
            #expect(killed.status == SIGKILL, "\(killed.stderr)")
            // A killed holder cannot give its lease back: the spool still names it.
            let holderBeforeKill = try Self.leaseOwner(store)
            let acknowledgedAtKill = try store.position(of: "http")
            gate.open()
            await secondPhase

            // Logging goes on while the lease lapses and the second forwarder takes the sink.
            await logPhase(2)
            let total = Self.threads * Self.perPhase * 3
            let deadline = ContinuousClock.now + .seconds(30)
            while try store.stats().entries > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let holderAfterTakeover = try Self.leaseOwner(store)
            second.send(SIGTERM)
            let survivor = try second.finish(timeout: .seconds(15))
            #expect(survivor.status == 0, "\(survivor.stderr)")

            // One holder at a time: the second waited, naming the holder, and sent nothing before the kill.
            #expect(holderBeforeKill?.hasPrefix("spool forward pid \(first.processIdentifier) on ") == true, "\(holderBeforeKill ?? "free")")
            #expect(holderAfterTakeover?.hasPrefix("spool forward pid \(second.processIdentifier) on ") == true, "\(holderAfterTakeover ?? "free")")
            #expect(beforeKill.allSatisfy { $0.path == "/a" }, "the second forwarder sent while the first held the lease")
            // It either waited, naming the live holder, or (when the kill came before its first
            // try) took the lease of the provably dead holder at once, naming it.
            let waited = survivor.stderr.contains("spool: warning: sink 'http' is being forwarded by spool forward pid \(first.processIdentifier) on ")
                && survivor.stderr.contains("(its lease); wait for it to finish or expire; waiting (--wait-for-lease)")
            let tookOverFromTheDead = survivor.stderr.contains("\"topic\":\"spool.forward.lease_taken_over\"")
                && survivor.stderr.contains("\"previous_owner\":\"spool forward pid \(first.processIdentifier) on ")
            #expect(waited || tookOverFromTheDead, "\(survivor.stderr)")

            let requests = try server.requests.map(Self.delivered)
            #expect(requests.allSatisfy { request in zip(request.entries, request.entries.dropFirst()).allSatisfy { $0.id < $1.id } },
                    "every request is in id order")
            let byID = Dictionary(requests.flatMap(\.entries).map { ($0.id, $0.message) }) { first, _ in first }
            let expected = Set((0..<Self.threads).flatMap { t in (0..<3 * Self.perPhase).map { "t\(t) n\($0)" } })
            #expect(Set(byID.values) == expected, "every logged entry delivered at least once")
            #expect(byID.count == total, "one id per entry")
            // Order on disk: each thread's entries have increasing ids, as it logged them.
            for thread in 0..<Self.threads {
                let numbers = byID.sorted { $0.key < $1.key }.compactMap { Self.number(in: $0.value, thread: thread) }
                #expect(numbers == Array(0..<3 * Self.perPhase), "thread \(thread): \(numbers.prefix(20))…")
            }

            // Duplicates: only the window the first forwarder had out (claimed after its last
            // acknowledgement) when it was killed; what the server held among them is sent again.
            let firstSent = requests.filter { $0.path == "/a" }, secondSent = requests.filter { $0.path == "/b" }
            let held = Set(firstSent.dropFirst(6).flatMap(\.entries).map(\.id))
            let ids = requests.flatMap(\.entries).map(\.id)
            let duplicates = ids.count - Set(ids).count
            let duplicated = Set(Dictionary(grouping: ids) { $0 }.filter { $0.value.count > 1 }.keys)
            #expect(!held.isEmpty && held.isSubset(of: duplicated), "the held requests are sent again")
            #expect(duplicated.allSatisfy { $0 > acknowledgedAtKill }, "nothing acknowledged (through \(acknowledgedAtKill)) is sent again")
            #expect(duplicates == duplicated.count && duplicates <= Self.window * Self.batch,
                    "duplicates \(duplicates), bound \(Self.window * Self.batch)")
            for sent in [firstSent, secondSent] {
                let own = sent.flatMap(\.entries).map(\.id)
                #expect(own.count == Set(own).count, "a forwarder never sends an entry twice itself")
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 }.map(\.message))")
            print("concurrency: \(total) entries from \(Self.threads) threads, 1 takeover after SIGKILL, "
                  + "\(firstSent.count)+\(secondSent.count) requests, \(duplicates) duplicates (bound \(Self.window * Self.batch)), 0 lost")
        }
    }

    // MARK: - Helpers

    /// One request's path and the (id, message) of its entries, in the order sent.
    struct Delivered {
        var path: String
        var entries: [(id: Int64, message: String)]
    }

    static func delivered(_ request: RecordedRequest) throws -> Delivered {
        let entries = try request.bodyText.split(separator: "\n").map { line -> (id: Int64, message: String) in
            guard case .object(let object) = try JSONValue(parsing: String(line)),
                  case .int(let id) = object["id"], case .string(let message) = object["message"] else {
                throw SpoolError(.invalidArgument, "not an NDJSON entry with an id: \(line.prefix(200))")
            }
            return (id, message)
        }
        return Delivered(path: request.path, entries: entries)
    }

    /// n of "t<thread> n<n>", for that thread only.
    static func number(in message: String, thread: Int) -> Int? {
        let prefix = "t\(thread) n"
        return message.hasPrefix(prefix) ? Int(message.dropFirst(prefix.count)) : nil
    }

    static func leaseOwner(_ store: SpoolStore) throws -> String? {
        try store.stats().sinks.first { $0.name == "http" }?.leaseOwner
    }

}
