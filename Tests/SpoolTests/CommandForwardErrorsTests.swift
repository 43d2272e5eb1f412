import Foundation
import Synchronization
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Errors of `spool forward` that people can act on: said at once, in words, without secrets.
@Suite struct CommandForwardErrorsTests {
    @Test func aRefusedConnectionIsReportedAtOnceInWords() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<3)
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let url = "http://127.0.0.1:\(refusing.port)/ingest"
        let outcome = try SpoolBinary.run(rig.base + ["--http", url, "--until-empty", "--timeout", "2s"], timeout: .seconds(60))
        #expect(outcome.status == 1)
        let report = try #require(outcome.stderrLines.first { $0.contains("spool.forward.retrying") }, "\(outcome.stderr)")
        #expect(report.contains("127.0.0.1:\(refusing.port) refused the connection"), "\(report)")
        #expect(report.contains(#""attempts":1,"#), "reported after the first attempt: \(report)")
    }

    @Test func anAnswerThatIsNotHTTPIsSaidToBeSo() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<3)
        let listener = try NotHTTPListener()
        defer { listener.close() }
        let outcome = try SpoolBinary.run(rig.base + ["--http", "http://127.0.0.1:\(listener.port)/in", "--until-empty", "--timeout", "2s"],
                                          timeout: .seconds(60))
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("127.0.0.1:\(listener.port) answered with something that is not HTTP"), "\(outcome.stderr)")
    }

    /// A server that echoes the request's headers in its error body: the token must not reach
    /// the dead letter's reason or stderr.
    @Test(arguments: ["bearer", "basic"])
    func credentialsEchoedByTheServerAreScrubbedFromReasonsAndStderr(scheme: String) async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<2)
        let echo = Behaviour { request in
            .respond(Response(status: 400, body: "bad request; headers were: Authorization: \(request.header("Authorization") ?? "none")"))
        }
        try await TestHTTPServer.withServer(behaviour: echo) { server in
            let credentials = scheme == "bearer"
                ? ["--http-bearer-token-env", "SINK_SECRET"]
                : ["--http-basic-user", "ops", "--http-basic-password-env", "SINK_SECRET"]
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/in"), "--until-empty"] + credentials,
                                              environment: ["SINK_SECRET": "s3cr3t-value-42"], timeout: .seconds(60))
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let sent = try #require(server.requests.first?.header("Authorization"))
            #expect(sent.contains(scheme == "bearer" ? "s3cr3t-value-42" : Data("ops:s3cr3t-value-42".utf8).base64EncodedString()))
            let token = String(sent.split(separator: " ").last ?? "")
            let reasons = try SQL(rig.spool).rows("SELECT reason FROM dead_letters").flatMap { $0 }.compactMap { $0 }
            try #require(reasons.count == 2)
            for text in reasons + [outcome.stderr] {
                #expect(!text.contains("s3cr3t-value-42") && !text.contains(token), "\(text)")
            }
            #expect(reasons.allSatisfy { $0.contains("Authorization: [REDACTED]") }, "\(reasons)")
        }
    }

    /// PagerDuty's routing key travels in the body, not in a header: a server that echoes the
    /// request's body must not bring it into a dead letter's reason or stderr either. With 422
    /// the events are dead-lettered (exit 0); a 400 naming the routing key pauses the sink as
    /// misconfigured (exit 1) and its report quotes the answer.
    @Test(arguments: [422, 400])
    func aRoutingKeyEchoedByTheServerIsScrubbedFromReasonsAndStderr(status: Int) async throws {
        let rig = ForwardCommandRig()
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        let store = try SpoolStore(path: rig.spool, configuration: configuration)
        try store.append(contentsOf: (0..<2).map { entry($0, level: .error, message: "disk \($0) failed") })
        try store.close()
        let key = "pd-key-\(UUID().uuidString)"
        let echo = Behaviour { request in
            .respond(Response(status: status, body: "invalid event: \(request.bodyText)"))
        }
        try await TestHTTPServer.withServer(behaviour: echo) { server in
            let outcome = try SpoolBinary.run(rig.base + [
                "--pagerduty-url", server.url(path: "/v2/enqueue"), "--pagerduty-routing-key-env", "PD_KEY", "--until-empty",
            ], environment: ["PD_KEY": key], timeout: .seconds(60))
            #expect(outcome.status == (status == 422 ? 0 : 1), "\(outcome.stderr)")
            #expect(server.requests.first?.bodyText.contains(key) == true)
            let reasons = try SQL(rig.spool).rows("SELECT reason FROM dead_letters").flatMap { $0 }.compactMap { $0 }
            #expect(reasons.count == (status == 422 ? 2 : 0), "\(reasons)")
            #expect(outcome.stderr.contains(status == 422 ? "dead_letter" : "misconfigured"), "\(outcome.stderr)")
            for text in reasons + [outcome.stderr, outcome.stdout] {
                #expect(!text.contains(key), "\(text)")
            }
            #expect(reasons.allSatisfy { $0.contains("\"routing_key\":\"[REDACTED]\"") }, "\(reasons)")
        }
        // A request printed or dumped shows its secrets as redacted.
        let request = SinkRequest(url: "http://127.0.0.1:9/", body: [], secrets: [key])
        var dumped = ""
        dump(request, to: &dumped)
        for text in [String(describing: request), String(reflecting: request), dumped] { #expect(!text.contains(key), "\(text)") }
    }
}

/// A TCP port on 127.0.0.1 held by a bound socket that does not listen: a connection to it is
/// refused, and no other test can take the port meanwhile (as a stopped server's could be).
final class RefusingPort: Sendable {
    let port: Int
    private let socket: Int32

    init() throws {
        (socket, port) = try LoopbackSocket.bound()
    }

    func close() { _ = Glibc.close(socket) }
}

/// A TCP listener on 127.0.0.1 that answers every connection with a line that is not HTTP (an
/// SSH banner), as a mistyped port does.
final class NotHTTPListener: Sendable {
    let port: Int
    private let socket: Int32
    private let closing = Atomic<Bool>(false)
    private let ended = DispatchSemaphore(value: 0)

    init() throws {
        let (listening, port) = try LoopbackSocket.bound()
        guard listen(listening, 16) == 0 else { throw SpoolError(.io, "cannot listen") }
        socket = listening
        self.port = port
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(listening, nil, nil)
                if connection < 0 || self.closing.load(ordering: .acquiring) {
                    if connection >= 0 { Glibc.close(connection) }
                    break
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = read(connection, &buffer, buffer.count)
                let banner = Array("SSH-2.0-OpenSSH_9.2\r\n".utf8)
                _ = write(connection, banner, banner.count)
                Glibc.close(connection)
            }
            self.ended.signal()
        }
    }

    /// Stops accepting and closes the socket only once the accepting thread has ended, so its
    /// descriptor cannot be reused under it (and another test's connections taken).
    func close() {
        closing.store(true, ordering: .releasing)
        shutdown(socket, Int32(SHUT_RDWR))
        _ = ended.wait(timeout: .now() + 10)
        Glibc.close(socket)
    }
}

enum LoopbackSocket {
    /// A TCP socket bound to 127.0.0.1 on a port the system picks, and the port.
    static func bound() throws -> (Int32, Int) {
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw SpoolError(.io, "cannot bind a loopback socket") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A destination that refuses every entry is misconfigured: after the configured number of
/// rejections in a row the sink pauses, keeping the rest, instead of dead-lettering everything.
@Suite struct CommandForwardRejectionPauseTests {
    @Test func aSinkThatRejectsEveryEntryPausesAfterTheLimitKeepingTheRest() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<40)
        try await TestHTTPServer.withServer(behaviour: .status(400, body: "unknown stream schema")) { server in
            // Batches of 5, one at a time: the first batch's 5 are refused and settled as dead
            // letters; in the second, the 8th refusal in a row pauses the sink before it settles.
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/in"), "--until-empty", "--batch-size", "5",
                                                          "--max-in-flight", "1", "--pause-after-rejections", "7"], timeout: .seconds(60))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("rejected 7 entries in a row (the last: HTTP 400") && outcome.stderr.contains("it is most likely misconfigured"),
                    "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("HTTP 400: HTTP 400"), "the status once: \(outcome.stderr)")
            // Not 2 × 40 requests: the requests stop at the pause.
            #expect(server.requests.count < 20, "\(server.requests.count) requests")
            #expect(outcome.stderrLines.last?.hasPrefix("spool: error: sink 'http' is paused as misconfigured") == true, "\(outcome.stderr)")
            // Only the dead letters stored are reported as such: not the second batch's
            // refusals before the pause, which stay in the spool.
            #expect(outcome.stderrLines.filter { $0.contains("\"spool.forward.dead_letter\"") }.count == 5, "\(outcome.stderr)")
        }
        let stats = try rig.stats()
        #expect(stats.deadLetters == 5)
        #expect(stats.sinks.first?.pending == 35)
        #expect(stats.entries == 35)
    }

    @Test func rejectionsBetweenDeliveriesDoNotPause() async throws {
        let rig = ForwardCommandRig()
        try rig.fill(0..<30)
        // "entry 1" and "entry 10"…"entry 19" are refused: eleven, at most ten in a row, below
        // the limit, so every one is a dead letter and the rest is delivered.
        try await TestHTTPServer.withServer(behaviour: .rejectEntries(containing: "entry 1")) { server in
            let outcome = try SpoolBinary.run(rig.base + ["--http", server.url(path: "/in"), "--until-empty", "--batch-size", "5",
                                                          "--max-in-flight", "1", "--pause-after-rejections", "12"], timeout: .seconds(60))
            #expect(outcome.status == 0, "\(outcome.stderr)")
        }
        let stats = try rig.stats()
        #expect(stats.deadLetters == 11)
        #expect(stats.entries == 0)
    }
}
