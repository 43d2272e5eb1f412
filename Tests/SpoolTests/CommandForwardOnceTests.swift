import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// A `spool forward` run never leaves the spool worse than it found it: one-off readers hold
/// nothing back, `--until-empty` always ends, and a run with nothing to do is an error.
@Suite struct CommandForwardOnceTests {
    @Test func aOnceRunDeliversEverythingAndLeavesTheSpoolAndItsSinksAsTheyWere() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<25)
        // A durable sink that has not delivered yet: its entries must stay pending for it.
        try SpoolFileProbe.execute(rig.spool, "INSERT INTO sinks (name, position, created_ns) VALUES ('loki', 0, 1)")
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/replay"), "--once", "--until-empty", "--batch-size", "10"],
                                              timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            // Every entry arrived (a batch may arrive twice when a loaded box slows a request past its timeout).
            #expect(Set(ForwardCommandRig.numbers(try ForwardCommandRig.messages(server.requests))) == Set(0..<25))
            #expect(outcome.stderrLines.first == "spool: forwarding \(rig.spool) to http (\(server.url(path: "/replay")), one-off); until nothing is pending")
        }
        let stats = try rig.stats()
        #expect(stats.entries == 25)
        #expect(stats.sinks.map(\.name) == ["loki"])
        #expect(stats.sinks.first?.pending == 25)
    }

    @Test func aOnceRunOnASpoolWithoutSinksDeletesNothing() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/replay"), "--once", "--until-empty"], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(Set(ForwardCommandRig.numbers(try ForwardCommandRig.messages(server.requests))) == Set(0..<5))
        }
        let stats = try rig.stats()
        #expect(stats.entries == 5 && stats.sinks.isEmpty)
    }

    /// A one-off run killed with SIGKILL cannot remove its sinks; the next run does.
    @Test func theSinksOfAKilledOnceRunAreRemovedByTheNextRun() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            let running = try SpoolBinary.Running(rig.base + ["--http", server.url(path: "/replay"), "--once"])
            try await server.waitForRequests(2, timeout: .seconds(20))
            running.send(SIGKILL)
            _ = try running.finish(timeout: .seconds(15))
        }
        let left = try rig.stats().sinks.map(\.name)
        #expect(left.count == 2 && left.allSatisfy { $0.hasPrefix("spool-once") }, "\(left)")
        let replay = try SpoolBinary.run(rig.base + ["--console", "--console-format", "json", "--until-empty"], timeout: .seconds(30))
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.split(separator: "\n").count == 5)
        #expect(replay.stderr.contains("removed the one-off sink 'spool-once:"), "\(replay.stderr)")
        let stats = try rig.stats()
        #expect(stats.entries == 5 && stats.sinks.isEmpty, "\(stats.sinks.map(\.name))")
    }

    @Test func untilEmptyWithATimeoutEndsOnADeadDestinationNamingTheSink() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<20)
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/ingest"), "--until-empty", "--timeout", "1s"],
                                              timeout: .seconds(60))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderrLines.last == "spool: error: --timeout 1s expired with entries still pending for http 20; they stay in the spool for the next run",
                    "\(outcome.stderr)")
        }
        let stats = try rig.stats()
        #expect(stats.entries == 20 && stats.sinks.first?.pending == 20)
        #expect(stats.sinks.first?.leaseOwner == nil)
    }

    @Test func timeoutWithoutUntilEmptyIsAUsageError() throws {
        let rig = ForwardCommandRig()
        let outcome = try SpoolBinary.run(rig.base + ["--console", "--timeout", "5s"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("--timeout bounds --until-empty"))
    }

    /// `overflow: reject` at a small bound, a destination that never accepts: the append fails,
    /// and the run ends with that error instead of waiting for ever.
    @Test func stdinUntilEmptyExitsWhenAnAppendFails() async throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            let config = scratch.file("spool.yaml")
            try """
                spool:
                  path: \(spool)
                  max_size: 256KiB
                  overflow: reject
                sinks:
                  archive:
                    type: http
                    url: \(server.url(path: "/archive"))

                """.write(toFile: config, atomically: true, encoding: .utf8)
            let input = (1...3000).map { "line \($0) with some padding to fill the spool quickly, padding padding\n" }.joined()
            // Written from a thread of its own: a child that stopped reading must fail the test
            // at the timeout below, not block the test in `write`.
            let running = try SpoolBinary.Running(["forward", "--config", config, "--stdin", "--until-empty"])
            let written = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                running.write(Data(input.utf8))
                written.signal()
            }
            // The child either reads everything or exits (then the write fails at once).
            _ = written.wait(timeout: .now() + 60)
            let outcome = try running.finish(timeout: .seconds(60))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderrLines.last?.contains("overflow policy is reject") == true, "\(outcome.stderr)")
        }
    }
}

/// SIGTERM while a batch waits for its retry: the wait ends at once, the batch stays in the
/// spool, and the run exits without waiting out its grace period.
@Suite struct CommandForwardShutdownTests {
    @Test func aBatchInBackoffDoesNotHoldShutdownForTheGracePeriod() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        // Retry-After 120 s, a grace period of 90 s: only the fix lets the run end before either.
        try await TestHTTPServer.withServer(behaviour: .tooManyRequests(retryAfter: "120")) { server in
            let running = try SpoolBinary.Running(["forward", "--spool", rig.spool, "--http", server.url(path: "/in"),
                                                   "--max-batch-wait", "0", "--shutdown-grace", "90"])
            // The 429 has been written: the forwarder is about to wait (or waits) 120 s.
            try await server.waitUntil(timeout: .seconds(20)) { $0.requestsReceived >= 1 && $0.inFlightRequests == 0 }
            running.send(SIGTERM)
            let outcome = try running.finish(timeout: .seconds(45))
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let stats = try rig.stats()
        #expect(stats.entries == 5 && stats.sinks.first?.pending == 5)
        #expect(stats.sinks.first?.leaseOwner == nil)
    }
}

/// What an OTLP collector accepted but dropped (`partialSuccess`) is a counted drop in the
/// spool, not only a metric.
@Suite struct CommandForwardPartialSuccessTests {
    @Test func partialSuccessDropsAreRecordedInTheDropsTable() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        let answer = Behaviour.status(200, headers: [("Content-Type", "application/json")],
                                      body: #"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}"#)
        try await TestHTTPServer.withServer(behaviour: answer) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--otlp", server.url(path: ""), "--until-empty"], timeout: .seconds(60))
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let stats = try rig.stats()
        #expect(stats.droppedEntries == 2 && stats.dropEvents == 1)
        let rows = try SQL(rig.spool).rows("SELECT reason, count, first_id FROM drops")
        try #require(rows.count == 1)
        #expect(rows[0][0]?.hasPrefix("rejected_by_destination:otlp: ") == true && rows[0][0]?.contains("too old") == true, "\(rows)")
        #expect(rows[0][1] == "2" && rows[0][2] == nil, "\(rows)")
        #expect(stats.entries == 0)
    }
}
