import Spool
import SpoolTesting
import Testing

@Suite struct FrontRedactionSamplingTests {
    @Test func secretsAreRedactedAtAnyDepthAndInAnyCase() throws {
        let fixture = FrontFixture()
        let log = fixture.logger()
        log.info("login", context: [
            "user": "ada",
            "Password": "hunter2",
            "request": ["headers": ["Authorization": "Bearer abc", "Accept": "json"], "API_KEY": ["nested": "x"]],
            "attempts": [["token": "t1", "ok": false], "plain"],
            "set-cookie": "sid=1",
            "db_password": "pw", "accessToken": "at", "X-Api-Key": "k", "prompt_tokens": 812,
        ])
        let context = try #require(fixture.recorder.entries.first?.context)
        #expect(context == [
            "user": "ada",
            "Password": "[REDACTED]",
            "request": ["headers": ["Authorization": "[REDACTED]", "Accept": "json"], "API_KEY": "[REDACTED]"],
            "attempts": [["token": "[REDACTED]", "ok": false], "plain"],
            "set-cookie": "[REDACTED]",
            "db_password": "[REDACTED]", "accessToken": "[REDACTED]", "X-Api-Key": "[REDACTED]", "prompt_tokens": 812,
        ])
    }

    /// The default keys are matched by words, so the secret names applications actually use
    /// (`db_password`, `accessToken`, `X-Api-Key`, `client_secret`) are hidden, and words that
    /// merely contain one (`passwordless`, `prompt_tokens`, `author`) are not.
    @Test(arguments: [
        "password", "Password", "PASSWORD", "db_password", "DB-Password", "passwordHash", "user.password", "pass word",
        "passwd", "passphrase", "ssh_passphrase", "secret", "client_secret", "clientSecret", "secret_key", "SECRET-KEY",
        "token", "access_token", "accessToken", "authToken", "AUTH_TOKEN", "refresh_token", "oauth2Token", "token2",
        "auth", "Authorization", "proxy-authorization", "api_key", "api-key", "apiKey", "APIKey", "X-Api-Key",
        "x_api_key", "apikey", "private_key", "privateKey", "credential", "credentials", "aws_credentials",
        "cookie", "Cookie", "set-cookie", "cookies", "Session-Token", "Ключ_token",
    ])
    func theDefaultKeysHideSecretNamesByTheirWords(key: String) {
        #expect(Redaction().matches(key))
    }

    @Test(arguments: [
        "passwordless", "prompt_tokens", "total_tokens", "tokens", "tokenizer", "secretary", "author", "authority",
        "authenticated", "oauth_provider", "cookieless", "user", "request_id", "keyboard", "api", "key", "pass", "word",
        "", "_", "Ключ",
    ])
    func wordsThatOnlyContainADefaultKeyAreKept(key: String) {
        #expect(!Redaction().matches(key))
    }

    @Test func configuredKeysAreMatchedByWordsToo() {
        let redaction = Redaction(keys: ["session_id", "", "--"])
        for key in ["session_id", "SessionId", "sessionID", "user_session_id", "session-id", "sessionid"] {
            #expect(redaction.matches(key), "\(key)")
        }
        for key in ["session", "sessions_id", "session_identifier", "password", "x"] {
            #expect(!redaction.matches(key), "\(key)")
        }
    }

    @Test func redactionHappensBeforeAnyHandlerAndBeforeTheFailureReport() throws {
        let fixture = FrontFixture()
        let failing = ClosureHandler { entry in
            #expect(entry.context?["secret"] == "[REDACTED]")
            throw HandlerBroke()
        }
        let log = SpoolLogger(handlers: [failing, fixture.recorder], configuration: fixture.configuration())
        log.error("x", context: ["secret": "s3cr3t"])
        #expect(fixture.recorder.entries.first?.context == ["secret": "[REDACTED]"])
        let report = try #require(fixture.fallback.entries.first)
        #expect(!EntryJSON.line(report).contains("s3cr3t"))
    }

    @Test func redactionKeysAndMarkerAreConfigurable() {
        let fixture = FrontFixture()
        var redaction = Redaction(keys: ["session_id"], marker: nil)
        redaction.keys.append("ÉTAT")
        let log = fixture.logger(redaction: redaction)
        log.info("x", context: ["Session_ID": "abc", "password": "kept", "état": "hidden"])
        #expect(fixture.recorder.entries.first?.context == ["Session_ID": nil, "password": "kept", "état": nil])
    }

    @Test func disabledRedactionLeavesContextAlone() {
        let fixture = FrontFixture()
        let log = fixture.logger(redaction: .disabled)
        log.info("x", context: ["token": "visible"])
        #expect(fixture.recorder.entries.first?.context == ["token": "visible"])
    }

    @Test func samplingKeepsTheConfiguredShareDeterministicallyAndCountsTheRest() {
        let fixture = FrontFixture()
        let log = fixture.logger(sampling: Sampling(debug: 0.01, info: 0.5))
        for index in 1...1000 { log.debug("d\(index)") }
        for index in 1...10 { log.info("i\(index)") }
        let kept = fixture.recorder.entries
        #expect(kept.filter { $0.level == .debug }.map(\.message) == (1...10).map { "d\($0 * 100)" })
        #expect(kept.filter { $0.level == .info }.map(\.message) == ["i2", "i4", "i6", "i8", "i10"])
        #expect(log.statistics.sampledOut == [.debug: 990, .info: 5])
    }

    @Test func samplingNeverDropsNoticeOrAnythingMoreSevere() {
        let fixture = FrontFixture()
        let log = fixture.logger(sampling: Sampling(trace: 0, debug: 0, info: 0))
        for level in LogLevel.allCases {
            for _ in 0..<20 { log.log(level, "m") }
        }
        let levels = fixture.recorder.entries.map(\.level)
        #expect(levels == [LogLevel.notice, .warning, .error, .critical].flatMap { Array(repeating: $0, count: 20) })
        #expect(log.statistics.sampledOut == [.trace: 20, .debug: 20, .info: 20])
    }

    @Test func aSampledOutEntryIsNeverEvaluated() {
        let fixture = FrontFixture()
        let evaluations = Evaluations()
        let log = fixture.logger(sampling: Sampling(debug: 0))
        log.debug(evaluations.message("dropped"), context: evaluations.context())
        #expect(evaluations.value == 0)
        #expect(fixture.recorder.entries.isEmpty)
    }
}
