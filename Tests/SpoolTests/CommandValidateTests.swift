import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// `spool validate --config FILE [--connect]`.
@Suite struct CommandValidateTests {
    static func write(_ text: String, in scratch: TemporaryDirectory) throws -> String {
        let file = scratch.file("spool.yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @Test func aValidFileIsSaidToBeValidAndNoSpoolIsCreated() throws {
        let scratch = TemporaryDirectory()
        let config = try Self.write("""
            spool:
              path: \(scratch.file("app.spool"))
            sinks:
              archive:
                type: http
                url: http://127.0.0.1:1/in
                credentials:
                  bearer: {token_env: ARCHIVE_TOKEN}

            """, in: scratch)
        let outcome = try SpoolBinary.run(["validate", "--config", config], environment: ["ARCHIVE_TOKEN": "t0k3n-value"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("valid; spool \(scratch.file("app.spool")), 1 sink: archive (http://127.0.0.1:1/in)"), "\(outcome.stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("app.spool")))
        #expect(!(outcome.stdout + outcome.stderr).contains("t0k3n-value"))
    }

    @Test func everyProblemIsReportedAtOnceWithItsLine() throws {
        let scratch = TemporaryDirectory()
        let config = try Self.write("""
            spool:
              path: app.spool
              durability: sometimes
            sinks:
              archive:
                type: http
                url: http://127.0.0.1:1/in
                batch_size: ten

            """, in: scratch)
        let outcome = try SpoolBinary.run(["validate", "--config", config])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("spool.durability: line 3: "), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("sinks.archive.batch_size: line 8: "), "\(outcome.stderr)")
    }

    @Test func aMissingCredentialAndAFileWithoutSinksAreErrors() throws {
        let scratch = TemporaryDirectory()
        let withSecret = try Self.write("""
            spool: {path: app.spool}
            sinks:
              archive: {type: http, url: "http://127.0.0.1:1/in", credentials: {bearer: {token_env: NOT_SET_TOKEN_9}}}

            """, in: scratch)
        let missing = try SpoolBinary.run(["validate", "--config", withSecret])
        #expect(missing.status == 1 && missing.stderr.contains("NOT_SET_TOKEN_9"), "\(missing.stderr)")
        let empty = try Self.write("spool: {path: app.spool}\n", in: scratch)
        let none = try SpoolBinary.run(["validate", "--config", empty])
        #expect(none.status == 1 && none.stderr.contains("names no sinks"), "\(none.stderr)")
    }

    @Test func connectChecksEachDestinationWithoutSendingEntries() async throws {
        let scratch = TemporaryDirectory()
        let refusing = try RefusingPort()
        defer { refusing.close() }
        let refusedURL = "http://127.0.0.1:\(refusing.port)/gone"
        try await TestHTTPServer.withServer(behaviour: .when({ $0.path == "/locked" }, .status(401), otherwise: .status(405))) { server in
            let config = try Self.write("""
                spool: {path: app.spool}
                sinks:
                  good: {type: http, url: "\(server.url(path: "/in"))"}
                  locked: {type: http, url: "\(server.url(path: "/locked"))"}
                  gone: {type: http, url: "\(refusedURL)"}
                  screen: {type: console}

                """, in: scratch)
            let outcome = try SpoolBinary.run(["validate", "--config", config, "--connect"], timeout: .seconds(60))
            #expect(outcome.status == 1, "\(outcome.stderr)")
            let lines = outcome.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("good: \(server.url(path: "/in")) answers (HTTP 405 to a GET)"), "\(lines)")
            #expect(lines.contains("locked: \(server.url(path: "/locked")) answers HTTP 401: the credentials were refused"), "\(lines)")
            #expect(lines.contains { $0.hasPrefix("gone: ") && $0.contains("refused the connection") }, "\(lines)")
            #expect(lines.contains("screen: writes to standard output; nothing to connect to"))
            #expect(outcome.stderr.contains("2 of 4 destinations did not answer"), "\(outcome.stderr)")
            #expect(server.requests.allSatisfy { $0.method == "GET" && $0.body.isEmpty })
        }
    }
}
