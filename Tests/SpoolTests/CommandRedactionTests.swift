import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// Every path into the store applies the logger's redaction: `spool ingest` and
/// `spool forward --stdin`, with the default keys and with a configuration's `redaction:`.
@Suite struct CommandRedactionTests {
    @Test(arguments: ["json", "logfmt"])
    func ingestHidesTheDefaultKeysAtAnyDepth(format: String) throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = format == "json"
            ? #"{"msg":"login","password":"hunter2","user":{"name":"ann","Token":"tk-1"},"items":[{"api_key":"k-9"}]}"# + "\n"
            : #"msg=login password=hunter2 Token="tk-1" name=ann"# + "\n"
        let outcome = try SpoolBinary.run(["ingest", "--spool", spool, "--format", format], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let context = try #require(try SpoolFileProbe.entries(spool).first?.context)
        for secret in ["hunter2", "tk-1", "k-9"] { #expect(!context.contains(secret), "\(context)") }
        #expect(context.contains(#""password":"[REDACTED]""#) && context.contains("ann"), "\(context)")
    }

    @Test func ingestAppliesTheConfigurationsRedaction() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let config = scratch.file("spool.yaml")
        try """
            spool:
              path: \(spool)
            redaction:
              extra_keys: [card]
              marker: "***"

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let input = #"{"msg":"paid","card":"4111-1111","password":"p","amount":12}"# + "\n"
        let outcome = try SpoolBinary.run(["ingest", "--config", config, "--format", "json"], input: input)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let context = try #require(try SpoolFileProbe.entries(spool).first?.context)
        #expect(context == #"{"amount":12,"card":"***","password":"***"}"#)
    }

    @Test func forwardStdinAppliesTheConfigurationsRedactionBeforeStoringAndSending() async throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        try await TestHTTPServer.withServer { server in
            let config = scratch.file("spool.yaml")
            try """
                spool:
                  path: \(spool)
                redaction:
                  extra_keys: [session]
                sinks:
                  archive:
                    type: http
                    url: \(server.url(path: "/archive"))

                """.write(toFile: config, atomically: true, encoding: .utf8)
            let input = #"{"msg":"hello","session":"s-77","token":"t-88","user":"ann"}"# + "\n"
            let outcome = try SpoolBinary.run(["forward", "--config", config, "--stdin", "--format", "json", "--until-empty"], input: input)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let bodies = server.requests.map(\.bodyText).joined()
            #expect(bodies.contains("ann") && bodies.contains("[REDACTED]"), "\(bodies)")
            #expect(!bodies.contains("s-77") && !bodies.contains("t-88"), "\(bodies)")
        }
    }
}
