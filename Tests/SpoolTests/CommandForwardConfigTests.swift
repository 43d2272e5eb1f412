import Foundation
import SpoolTestServer
import Testing
@testable import Spool

/// `spool forward --config FILE`: the spool, its settings and its sinks from one YAML file.
@Suite struct CommandForwardConfigTests {
    @Test func aConfigurationFileNamesTheSpoolAndItsSinks() async throws {
        let directory = TemporaryDirectory()
        let path = directory.file("app.spool")
        _ = try SpoolBinary.run(["ingest", "--spool", path, "--topic", "web"], input: (1...30).map { "line \($0)\n" }.joined())
        try await TestHTTPServer.withServer { server in
            let file = directory.file("spool.yaml")
            try """
                version: 1
                spool:
                  path: \(path)
                sinks:
                  archive:
                    type: http
                    url: \(server.url(path: "/archive"))
                    batch_size: 7
                    credentials:
                      bearer: {token_env: ARCHIVE_TOKEN}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let outcome = try SpoolBinary.run(["forward", "--config", file, "--until-empty"],
                                              environment: ["ARCHIVE_TOKEN": "s3cr3t-token"])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let requests = server.requests
            #expect(requests.count == 5, "batch_size 7 over 30 lines")
            #expect(requests.allSatisfy { $0.path == "/archive" && $0.header("Authorization") == "Bearer s3cr3t-token" })
            #expect(!outcome.stderr.contains("s3cr3t") && !outcome.stdout.contains("s3cr3t"))
            #expect(try SQL(path).rows("SELECT name, position FROM sinks") == [["archive", "30"]])
        }
    }

    @Test func destinationOptionsAndAConfigurationFileDoNotMix() throws {
        let outcome = try SpoolBinary.run(["forward", "--config", "/nonexistent.yaml", "--http", "http://127.0.0.1:1/"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("--config"))
    }

    @Test func aBadConfigurationFileIsRefusedWithItsLine() throws {
        let directory = TemporaryDirectory()
        let file = directory.file("spool.yaml")
        try "version: 1\nspool:\n  path: \(directory.file("a.spool"))\nsinks:\n  x:\n    type: http\n    url: http://127.0.0.1:1/\n    batch_size: ten\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let outcome = try SpoolBinary.run(["forward", "--config", file, "--until-empty"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("line 8"), "\(outcome.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("a.spool")), "nothing is created before the file is valid")
    }
}
