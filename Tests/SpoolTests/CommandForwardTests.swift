import Foundation
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// A spool file for `spool forward` runs, and what the server made of them.
struct ForwardCommandRig {
    let scratch = TemporaryDirectory()
    var spool: String { scratch.file("app.spool") }

    /// The flags every run gets: short waits instead of the production schedule.
    var base: [String] {
        ["forward", "--spool", spool, "--retry-base-ms", "1", "--max-batch-wait", "0", "--poll-ms", "10", "--request-timeout-ms", "3000"]
    }

    /// Appends "entry N" for N in `range`, through the library, and closes the spool.
    func fill(_ range: Range<Int>) throws {
        let store = try openStore()
        try store.append(contentsOf: range.map { entry($0, message: "entry \($0)") })
        try store.close()
    }

    func stats() throws -> SpoolStats {
        let store = try openStore()
        defer { try? store.close() }
        return try store.stats()
    }

    private func openStore() throws -> SpoolStore {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        return try SpoolStore(path: spool, configuration: configuration)
    }

    /// The messages of NDJSON requests, in arrival order.
    static func messages(_ requests: [RecordedRequest]) throws -> [String] {
        try requests.flatMap { request in
            try request.bodyText.split(separator: "\n").map { line -> String in
                guard case .object(let object) = try JSONValue(parsing: String(line)), case .string(let message) = object["message"] else {
                    return "?"
                }
                return message
            }
        }
    }

    /// The N of every "entry N" received, duplicates included.
    static func numbers(_ messages: [String]) -> [Int] {
        messages.compactMap { $0.hasPrefix("entry ") ? Int($0.dropFirst(6)) : nil }
    }
}

@Suite(.serialized) struct CommandForwardTests {
    @Test func forwardsEverythingToHTTPAndToLokiThenExitsWhenEmpty() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<25)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--http", server.url(path: "/ingest"), "--loki", server.url(), "--loki-label", "service=billing",
                "--loki-tenant", "team-a", "--until-empty", "--batch-size", "10",
            ], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let requests = server.requests
            let ndjson = requests.filter { $0.path == "/ingest" }
            #expect(try ForwardCommandRig.messages(ndjson).sorted() == (0..<25).map { "entry \($0)" }.sorted())

            let loki = requests.filter { $0.path == "/loki/api/v1/push" }
            #expect(loki.allSatisfy { $0.header("X-Scope-OrgID") == "team-a" && $0.header("Content-Type") == "application/json" })
            var lines: [String] = []
            for request in loki {
                guard case .object(let body) = try JSONValue(parsing: request.bodyText), case .array(let streams) = body["streams"] else {
                    Issue.record("not a Loki push: \(request.bodyText.prefix(200))")
                    continue
                }
                for case .object(let stream) in streams {
                    #expect(stream["stream"] == .object(["service": .string("billing"), "level": .string("info")]))
                    guard case .array(let values) = stream["values"] else { continue }
                    for case .array(let value) in values {
                        guard case .string(let nanoseconds) = value.first, Int64(nanoseconds) != nil,
                              value.count >= 2, case .string(let line) = value[1] else {
                            Issue.record("a value is not [\"<ns>\", \"<line>\", …]: \(value)")
                            continue
                        }
                        lines.append(line)
                    }
                }
            }
            #expect(lines.sorted() == (0..<25).map { "entry \($0)" }.sorted())
            let stats = try rig.stats()
            #expect(stats.entries == 0)
            #expect(Set(stats.sinks.map(\.name)) == ["http", "loki"])
        }
    }

    @Test func stdinLinesAreStoredAndForwardedAndTheRunEndsWithItsInput() async throws {
        let rig = ForwardCommandRig()
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let running = try SpoolBinary.Running(rig.base + [
                "--http", server.url(path: "/ingest"), "--name", "ship", "--stdin", "--topic", "pipe", "--until-empty",
            ])
            running.write("first\nsecond\n")
            // Forwarded while stdin is still open.
            try await server.waitForRequests(1, timeout: .seconds(10))
            running.write("third\nlast without newline")
            let outcome = try running.finish(timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(try ForwardCommandRig.messages(server.requests) == ["first", "second", "third", "last without newline"])
            let stats = try rig.stats()
            #expect(stats.entries == 0)
            #expect(stats.sinks.map(\.name) == ["ship"])
        }
    }

    @Test func aServiceUnavailableOutageThenRecoveryDeliversEverythingInOrder() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<40)
        try await TestHTTPServer.withServer(behaviour: .failFor(6, status: 503)) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--http", server.url(path: "/ingest"), "--until-empty", "--batch-size", "10", "--max-in-flight", "1",
            ], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let delivered = try ForwardCommandRig.messages(Array(server.requests.dropFirst(6)))
            #expect(ForwardCommandRig.numbers(delivered) == Array(0..<40))
            #expect(try rig.stats().entries == 0)
        }
    }

    @Test func unauthorizedPausesTheSinkDeadLettersNothingAndUntilEmptyExitsNamingIt() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<20)
        try await TestHTTPServer.withServer(behaviour: .status(401, body: "bad key")) { server in
            // A paused sink would try again in minutes, for ever: --until-empty gives up at once.
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/ingest"), "--until-empty"], timeout: .seconds(30))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("spool.forward.misconfigured"))
            #expect(outcome.stderrLines.last?.hasPrefix("spool: error: sink 'http' is paused as misconfigured") == true, "\(outcome.stderr)")
            #expect(outcome.stderrLines.last?.contains("its 20 entries stay in the spool") == true, "\(outcome.stderr)")
            let stats = try rig.stats()
            #expect(stats.entries == 20)
            #expect(stats.deadLetters == 0)
            #expect(stats.sinks.first?.pending == 20)
            #expect(stats.sinks.first?.leaseOwner == nil, "a graceful exit gives the lease back")
        }
    }

    @Test func sigtermDuringAnOutageLosesNothingAndTheNextRunFinishesTheJob() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<30)
        try await TestHTTPServer.withServer(behaviour: .status(503)) { server in
            let running = try SpoolBinary.Running(rig.base + ["--http", server.url(path: "/ingest"), "--batch-size", "10"])
            try await server.waitForRequests(4, timeout: .seconds(10))
            running.send(SIGTERM)
            let stopped = try running.finish(timeout: .seconds(15))
            #expect(stopped.status == 0, "\(stopped.stderr)")
            #expect(try rig.stats().entries == 30)

            server.behaviour = .ok()
            let seen = server.requests.count
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/ingest"), "--until-empty", "--batch-size", "10"],
                                              timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let delivered = ForwardCommandRig.numbers(try ForwardCommandRig.messages(Array(server.requests.dropFirst(seen))))
            #expect(delivered.sorted() == Array(0..<30))
            #expect(try rig.stats().entries == 0)
        }
    }

    @Test func aForwarderKilledMidStreamResumesWithDuplicatesOnlyInItsInFlightWindow() async throws {
        let rig = ForwardCommandRig()
        let (total, batch, window) = (200, 10, 2)
        try rig.fill(0..<total)
        let gate = Gate()
        defer { gate.open() }
        try await TestHTTPServer.withServer(behaviour: .first(3, .ok(), then: .held(by: gate, .ok()))) { server in
            let flags = ["--http", server.url(path: "/ingest"), "--batch-size", "\(batch)", "--max-in-flight", "\(window)", "--lease-ms", "1000"]
            let running = try SpoolBinary.Running(rig.base + flags)
            // Three batches acknowledged, then a full window held at the server: kill mid-stream.
            // (At least one request held: under a loaded machine the second of the window may not
            // have left yet, which only makes the duplicate window smaller.)
            try await server.waitUntil(timeout: .seconds(20)) { $0.requestsReceived >= 4 && $0.inFlightRequests >= 1 }
            running.send(SIGKILL)
            _ = try running.finish(timeout: .seconds(10))
            #expect(try rig.stats().entries > 0)

            server.behaviour = .ok()
            gate.open()
            // The dead process's lease lapses within a second; the new run waits for it.
            let outcome = try SpoolBinary.run(rig.base + flags + ["--until-empty", "--wait-for-lease"], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let received = ForwardCommandRig.numbers(try ForwardCommandRig.messages(server.requests))
            #expect(Set(received) == Set(0..<total), "every entry delivered at least once")
            let duplicates = received.count - Set(received).count
            #expect(duplicates <= window * batch, "duplicates (\(duplicates)) only within the in-flight window")
            #expect(duplicates > 0, "the held window was sent again")
            #expect(try rig.stats().entries == 0)
        }
    }

    @Test func aSecondForwarderOnALeasedSinkFailsNamingTheHolderAndExpiry() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let first = try SpoolBinary.Running(rig.base + ["--http", server.url(path: "/ingest")])
            try await server.waitForRequests(1, timeout: .seconds(10))
            let second = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/other")], timeout: .seconds(30))
            #expect(second.status == 1)
            #expect(second.stderr.contains("spool: error: sink 'http' is being forwarded by spool forward pid \(first.processIdentifier) on "), "\(second.stderr)")
            #expect(second.stderr.contains(" until 20"), "the lease expiry: \(second.stderr)")
            #expect(server.requests.allSatisfy { $0.path == "/ingest" })
            first.send(SIGTERM)
            #expect(try first.finish(timeout: .seconds(15)).status == 0)
        }
    }

    @Test func credentialsFromTheEnvironmentReachTheServerAndNeverAnyOutput() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<5)
        let token = "s3cr3t-token-4f9a"
        try await TestHTTPServer.withServer(behaviour: .first(1, .status(401), then: .ok())) { server in
            // A 401 first, so the loud misconfiguration report is printed too.
            let outcome = try SpoolBinary.run(rig.base + [
                "--http", server.url(path: "/ingest"), "--http-bearer-token-env", "SPOOL_TEST_TOKEN", "--until-empty",
            ], environment: ["SPOOL_TEST_TOKEN": token], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("misconfigured"))
            #expect(server.requests.count == 2)
            #expect(server.requests.allSatisfy { $0.header("Authorization") == "Bearer \(token)" })
            #expect(!outcome.stderr.contains(token) && !outcome.stdout.contains(token))
        }

        let passwordFile = rig.scratch.file("password")
        try Data("hunter2-pw\n".utf8).write(to: URL(fileURLWithPath: passwordFile))
        try rig.fill(5..<6)
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--loki", server.url(), "--loki-basic-user", "ops", "--loki-basic-password-file", passwordFile, "--until-empty",
            ], timeout: .seconds(30))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(server.requests.first?.header("Authorization") == "Basic " + Data("ops:hunter2-pw".utf8).base64EncodedString())
        }

        let missing = try SpoolBinary.run(rig.base + ["--http", "http://127.0.0.1:9/", "--http-bearer-token-env", "SPOOL_TEST_NO_SUCH_VAR"],
                                          timeout: .seconds(30))
        #expect(missing.status == 1)
        #expect(missing.stderr == "spool: error: the bearer token comes from the environment variable SPOOL_TEST_NO_SUCH_VAR, which is not set or empty\n")
    }

    @Test func credentialsDescribeWhereTheSecretIsNeverWhatItIs() throws {
        let credentials = try Credentials.bearer(token: .environment("TOKEN"), environment: ["TOKEN": "abc123secret"])
        #expect(credentials.headers == [SinkRequest.Header("Authorization", "Bearer abc123secret")])
        for text in [credentials.description, credentials.debugDescription, String(reflecting: credentials), "\(dumped(credentials))"] {
            #expect(!text.contains("abc123secret"), "\(text)")
        }
        #expect(credentials.description == "bearer token from $TOKEN (Authorization: <redacted>)")
        #expect(throws: SpoolError.self) { try Credentials.bearer(token: .environment("TOKEN"), environment: ["TOKEN": "a\r\nX-Evil: 1"]) }
        #expect(throws: SpoolError.self) { try Credentials.basic(user: "a:b", password: .environment("TOKEN"), environment: ["TOKEN": "x"]) }
        do {
            _ = try Credentials.bearer(token: .file("/nonexistent/token"))
            Issue.record("a missing file must throw")
        } catch {
            #expect(error.code == .io && error.message.contains("/nonexistent/token"))
        }
    }

    private func dumped(_ value: some Any) -> String {
        var text = ""
        dump(value, to: &text)
        return text
    }
}
