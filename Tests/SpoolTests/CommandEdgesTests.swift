import Foundation
import Testing
@testable import Spool

/// The `spool` command at its edges: version, URLs with credentials, times without a zone,
/// environment variables in configuration files, a configuration with nothing to do.
@Suite struct CommandEdgesTests {
    @Test func versionPrintsTheVersionSchemaAndSQLite() throws {
        let outcome = try SpoolBinary.run(["--version"])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("spool "), "\(outcome.stdout)")
        #expect(outcome.stdout.contains("spool schema \(SpoolStore.latestSchemaVersion)") && outcome.stdout.contains("SQLite 3."))
    }

    @Test(arguments: [["--loki", "http://ops:pa55word@127.0.0.1:1"], ["--http", "https://ops:pa55word@logs.example.net/in"]])
    func aURLWithAUserAndPasswordIsRefusedNamingTheOptionsToUse(arguments: [String]) throws {
        let scratch = TemporaryDirectory()
        let outcome = try SpoolBinary.run(["forward", "--spool", scratch.file("app.spool")] + arguments)
        #expect(outcome.status == 2)
        let kind = arguments[0].dropFirst(2)
        #expect(outcome.stderr.contains("--\(kind)-basic-user USER with --\(kind)-basic-password-env VAR"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("pa55word"))
        #expect(!FileManager.default.fileExists(atPath: scratch.file("app.spool")))
    }

    /// `--since` without a zone is local time (here UTC+2, set through TZ).
    @Test func sinceWithoutAZoneIsLocalTime() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        let input = """
            {"msg":"before","time":"2025-11-29T05:59:59Z"}
            {"msg":"after","time":"2025-11-29T06:00:00Z"}

            """
        #expect(try SpoolBinary.run(["ingest", "--spool", spool, "--format", "json"], input: input).status == 0)
        for since in ["2025-11-29T08:00:00", "2025-11-29 08:00", "2025-11-29T06:00:00Z", "2025-11-29T07:00:00+01:00"] {
            let outcome = try SpoolBinary.run(["export", "--spool", spool, "--since", since], environment: ["TZ": "XYZ-02"])
            #expect(outcome.status == 0, "\(since): \(outcome.stderr)")
            let messages = outcome.stdout.split(separator: "\n").compactMap { line -> String? in
                guard case .object(let object)? = try? JSONValue(parsing: String(line)), case .string(let message)? = object["message"] else { return nil }
                return message
            }
            #expect(messages == ["after"], "\(since)")
        }
    }

    @Test func anUnreadableTimeSaysWhatIsExpected() throws {
        let scratch = TemporaryDirectory()
        let spool = scratch.file("app.spool")
        #expect(try SpoolBinary.run(["ingest", "--spool", spool], input: "x\n").status == 0)
        let outcome = try SpoolBinary.run(["export", "--spool", spool, "--since", "2025-13-01T08:00"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("expected YYYY-MM-DD"), "\(outcome.stderr)")
    }

    @Test func environmentVariablesInTheConfigurationAreReplaced() throws {
        let scratch = TemporaryDirectory()
        let config = scratch.file("spool.yaml")
        try """
            spool:
              path: ${SPOOL_DIR}/$APP_NAME.spool
            ingest:
              topic: ${INGEST_TOPIC:-from-default}
              level: "${INGEST_LEVEL-warning}"

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try SpoolBinary.run(["ingest", "--config", config], input: "hello\n",
                                          environment: ["SPOOL_DIR": scratch.path, "APP_NAME": "billing", "INGEST_TOPIC": ""])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let row = try #require(try SpoolFileProbe.entries(scratch.file("billing.spool")).first)
        #expect(row.topic == "from-default" && row.level == "warning")
    }

    @Test func aMissingVariableIsAnErrorWithItsLineAndAllOthersAtOnce() throws {
        let scratch = TemporaryDirectory()
        let config = scratch.file("spool.yaml")
        try """
            spool:
              path: ${NOT_SET_DIR_1}/app.spool
            ingest:
              topic: ${NOT_SET_TOPIC:?name the topic}
              level: $$literal

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try SpoolBinary.run(["ingest", "--config", config], input: "hello\n")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("spool.path: line 2: environment variable NOT_SET_DIR_1 is not set; set it, or give a default: ${NOT_SET_DIR_1:-default}"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains("ingest.topic: line 4: environment variable NOT_SET_TOPIC is not set: name the topic"), "\(outcome.stderr)")
        // `$$` is a literal `$`, which is not a level.
        #expect(outcome.stderr.contains(#"ingest.level: line 5: expected a level"#) && outcome.stderr.contains(#""$literal""#), "\(outcome.stderr)")
    }

    @Test func forwardWithAConfigurationWithoutSinksIsAnError() throws {
        let scratch = TemporaryDirectory()
        let config = scratch.file("spool.yaml")
        try "spool:\n  path: \(scratch.file("app.spool"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let outcome = try SpoolBinary.run(["forward", "--config", config, "--until-empty"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("names no sinks"), "\(outcome.stderr)")
    }
}
