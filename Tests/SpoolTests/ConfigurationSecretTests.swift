import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Secrets are never written in the file, never echoed, and read in a step of their own.
@Suite struct ConfigurationSecretTests {
    typealias F = ConfigurationFixtures
    static let secret = "hunter2-S3CRET"

    @Test(arguments: [
        ("password: hunter2-S3CRET",
         "sinks.s.password: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write credentials: {basic: {username: NAME, password_env: VARIABLE}} (or password_file: PATH)"),
        ("token: hunter2-S3CRET",
         "sinks.s.token: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write credentials: {bearer: {token_env: VARIABLE}} (or token_file: PATH)"),
        ("api_key: hunter2-S3CRET",
         "sinks.s.api_key: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write credentials: {headers: {Header-Name: {env: VARIABLE}}} (or {file: PATH})"),
        ("routing_key: hunter2-S3CRET",
         "sinks.s.routing_key: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write routing_key_env: VARIABLE (or routing_key_file: PATH) in a pagerduty sink"),
        ("credentials: {basic: {username: u, password: hunter2-S3CRET}}",
         "sinks.s.credentials.basic.password: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write password_env: VARIABLE or password_file: PATH"),
        ("credentials: {bearer: {token: hunter2-S3CRET}}",
         "sinks.s.credentials.bearer.token: line 7: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write token_env: VARIABLE or token_file: PATH"),
        ("credentials: {headers: {Authorization: Bearer hunter2-S3CRET}}",
         "sinks.s.credentials.headers.Authorization: line 7: a header value cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write Authorization: {env: VARIABLE} or Authorization: {file: PATH}"),
        ("url: https://user:hunter2-S3CRET@logs.example.net",
         "sinks.s.url: line 7: the URL has a user name or password in it (not shown here); use credentials: {basic: {username: NAME, password_env: VARIABLE}} instead"),
        ("url: https://logs.example.net/in?api_key=hunter2-S3CRET",
         "sinks.s.url: line 7: the URL's query has a secret ('api_key', value not shown); send it as a header instead: credentials: {headers: {Header-Name: {env: VARIABLE}}}"),
        ("credentials: {bearer: {token_env: hunter2-S3CRET}}",
         "sinks.s.credentials.bearer.token_env: line 7: expected the name of an environment variable (letters, digits and '_', not starting with a digit); the value is not shown in case it is the secret itself"),
    ])
    func anInlineSecretIsRefusedWithoutEchoingIt(line: String, expected: String) {
        // Every tested line is line 7: a URL line replaces the sink's URL.
        let second = line.hasPrefix("url:") ? "batch_size: 1" : "url: http://127.0.0.1:9/"
        let message = F.refusal(F.withSink("type: http\n\(second)\n\(line)"))
        #expect(message == expected)
        #expect(!message.contains("hunter2"))
    }

    @Test func aPagerDutyRoutingKeyPointsToItsOwnEnvForm() {
        let message = F.refusal(F.withSink("type: pagerduty\nrouting_key: hunter2-S3CRET"))
        #expect(message == "sinks.s.routing_key: line 6: a secret cannot be written in the file (its value is not shown here); put it in an environment variable or a file and write routing_key_env: VARIABLE or routing_key_file: PATH")
    }

    @Test func secretsAreRefusedAtEveryLevelAndASyntaxErrorNeverQuotesTheLine() {
        let topLevel = F.refusal("spool: {path: a}\npassword: hunter2-S3CRET\n")
        #expect(topLevel.hasPrefix("password: line 2: a secret cannot be written in the file"))
        let inSpool = F.refusal("spool: {path: a, token: hunter2-S3CRET}\n")
        #expect(inSpool.hasPrefix("spool.token: line 1: a secret cannot be written in the file"))
        let broken = F.refusal("spool: {path: a}\nsinks:\n  s: {type: http, url: \"http://x\", password: \"hunter2-S3CRET\"\n")
        #expect(broken.contains("invalid YAML") && !broken.contains("hunter2"))
    }

    @Test func bothEnvAndFileIsRefused() {
        #expect(F.refusal(F.withSink("type: pagerduty\nrouting_key_env: A\nrouting_key_file: /b"))
            == "sinks.s: line 7: routing_key_env and routing_key_file are both written; keep one")
        #expect(F.refusal(F.withSink("type: http\nurl: http://x\ncredentials: {basic: {username: u, password_env: P}, bearer: {token_env: T}}"))
            == "sinks.s.credentials: line 7: basic and bearer both set the Authorization header; keep one")
    }

    // MARK: - Resolution

    static let yaml = F.withSink("""
        type: http
        url: http://127.0.0.1:9/
        credentials:
          bearer: {token_env: SPOOL_TEST_TOKEN}
          headers:
            X-Api-Key: {file: /secrets/key}
        """)

    static func resolve(environment: [String: String], files: [String: [UInt8]]) throws(SpoolError) -> [SinkRequest.Header] {
        let configuration = try SpoolConfiguration(yaml: yaml)
        return try configuration.makeSinks(environment: environment) { path throws(SpoolError) in
            guard let bytes = files[path] else { throw SpoolError(.io, "the secret file \(path) does not exist") }
            return bytes
        }[0].scheduling.credentials
    }

    @Test func credentialsAreReadFromTheEnvironmentAndFilesWhenSinksAreMade() throws {
        let headers = try Self.resolve(environment: ["SPOOL_TEST_TOKEN": Self.secret], files: ["/secrets/key": Array("k-\(Self.secret)\r\n\n".utf8)])
        #expect(headers == [.init("Authorization", "Bearer \(Self.secret)"), .init("X-Api-Key", "k-\(Self.secret)")])
    }

    @Test func loadingNeverReadsCredentials() throws {
        // No variable, no file: loading succeeds; only making the sinks needs them.
        let configuration = try SpoolConfiguration(yaml: Self.yaml)
        #expect(configuration.sinks[0].credentials.bearer == .environment("SPOOL_TEST_TOKEN"))
    }

    @Test(arguments: [
        ([:], ["/secrets/key": Array("k".utf8)],
         "sinks.s.credentials.bearer.token: the environment variable SPOOL_TEST_TOKEN is not set"),
        (["SPOOL_TEST_TOKEN": ""], ["/secrets/key": Array("k".utf8)],
         "sinks.s.credentials.bearer.token: the environment variable SPOOL_TEST_TOKEN is empty"),
        (["SPOOL_TEST_TOKEN": "a\(secret)\nInjected: yes"], ["/secrets/key": Array("k".utf8)],
         "sinks.s.credentials.bearer.token: the environment variable SPOOL_TEST_TOKEN holds a line break or another control character, which cannot go in an HTTP header"),
        (["SPOOL_TEST_TOKEN": "t"], [:],
         "sinks.s.credentials.headers.X-Api-Key: cannot read the secret: the secret file /secrets/key does not exist"),
        (["SPOOL_TEST_TOKEN": "t"], ["/secrets/key": Array("\n".utf8)],
         "sinks.s.credentials.headers.X-Api-Key: the file /secrets/key is empty"),
        (["SPOOL_TEST_TOKEN": "t"], ["/secrets/key": [0xFF, 0xFE] + Array(secret.utf8)],
         "sinks.s.credentials.headers.X-Api-Key: the file /secrets/key is not UTF-8 text"),
    ] as [([String: String], [String: [UInt8]], String)])
    func unreadableCredentialsNameTheSourceAndNeverTheValue(environment: [String: String], files: [String: [UInt8]], expected: String) {
        let error = #expect(throws: SpoolError.self) { try Self.resolve(environment: environment, files: files) }
        #expect(error?.code == .configuration)
        #expect(error?.message == expected)
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func theDefaultFileReaderReadsARealFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("token")
        try "\(Self.secret)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let value = try SpoolConfiguration.Secret.file(path).resolve(for: "t", environment: [:], readFile: SpoolConfiguration.readSecretFile)
        #expect(value == Self.secret)
        let missing = #expect(throws: SpoolError.self) {
            try SpoolConfiguration.Secret.file(directory.file("nope")).resolve(for: "t", environment: [:], readFile: SpoolConfiguration.readSecretFile)
        }
        #expect(missing?.message == "t: cannot read the secret: the secret file \(directory.file("nope")) does not exist")
    }

    /// Found in review: a secret pasted where the file's path goes (`token_file: sk_live_…`) was
    /// repeated in "the secret file … does not exist", and a path with a line break split the
    /// problem over two lines.
    @Test(arguments: [
        ("bearer: {token_file: sk_Live_hunter2}",
         "sinks.s.credentials.bearer.token: cannot read the secret: the secret file (its path is not shown: it does not start with /, ./ or ../, and may be the secret itself) does not exist"),
        // A one-letter name: the path is left out of the message, not replaced in it.
        ("bearer: {token_file: e}",
         "sinks.s.credentials.bearer.token: cannot read the secret: the secret file (its path is not shown: it does not start with /, ./ or ../, and may be the secret itself) does not exist"),
        (#"headers: {X-Api-Key: {file: "/secrets/key\nInjected"}}"#,
         #"sinks.s.credentials.headers.X-Api-Key: cannot read the secret: the secret file /secrets/key\nInjected does not exist"#),
    ])
    func aSecretFilePathIsShownOnlyWhenItLooksLikeOneAndOnOneLine(credentials: String, expected: String) throws {
        let configuration = try F.load(F.withSink("type: http\nurl: http://127.0.0.1:9/\ncredentials: {\(credentials)}"))
        let error = #expect(throws: SpoolError.self) { try configuration.checkSinks(environment: [:]) }
        #expect(error?.message == expected)
        #expect(error?.message.contains("hunter2") == false)
    }

    @Test func pagerDutyRoutingKeyIsResolvedIntoTheSink() throws {
        let configuration = try F.load(F.withSink("type: pagerduty\nrouting_key_env: PD"))
        let resolved = try configuration.makeSinks(environment: ["PD": Self.secret])
        let sink = try #require(resolved[0].sink as? PagerDutySink)
        #expect(sink.configuration.routingKey == Self.secret)
        #expect(!"\(sink)".contains("hunter2"))
        let unset = #expect(throws: SpoolError.self) { try configuration.makeSinks(environment: [:]) }
        #expect(unset?.message == "sinks.s.routing_key: the environment variable PD is not set")
    }
}
