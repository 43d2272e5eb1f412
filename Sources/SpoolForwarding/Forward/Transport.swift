import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Spool
import Synchronization

/// The one HTTP path of every sink: one attempt of one request, through AsyncHTTPClient, with
/// timeouts, gzip above a threshold, a User-Agent, credentials from configuration and the shared
/// FIFO concurrency limit. Retrying is the scheduler's job; the transport never retries.
///
/// TLS certificates are verified (AsyncHTTPClient's default); redirects are not followed (a
/// redirect from a log backend is a configuration problem, and following one could send
/// credentials elsewhere).
package final class Transport: Sendable {
    /// Timeouts, compression and limits, with documented defaults.
    package struct Configuration: Sendable, Hashable {
        /// Default 5 s.
        package var connectTimeout: Duration = .seconds(5)
        /// The whole request, response body included. Default 10 s.
        package var requestTimeout: Duration = .seconds(10)
        /// Bodies at least this large are sent gzip-compressed when the sink allows it. Default 1 KiB.
        package var gzipThreshold: Int = 1024
        /// The gzip level for request bodies, 1 (fastest) to 9 (smaller). Default 1, which
        /// compresses with ISA-L (``Gzip``): libdeflate's level 1 already took a third of the CPU
        /// of level 6 (zlib's default) for a body about 30 % larger, and ISA-L halves that again;
        /// compression is the largest cost of forwarding once encoding is cheap (BENCHMARKS.md,
        /// "Forwarding real lines", "Session 14").
        package var gzipLevel: Int = 1
        /// Requests in flight at once, over every sink. Default 5.
        package var maximumConcurrentRequests: Int = 5
        /// Default `spool/<version>`.
        package var userAgent: String = "spool/0.1"
        package init() {}
    }

    /// Why an attempt got no response. The message never holds a credential.
    package struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        package enum Kind: String, Sendable, Hashable {
            case connectionRefused, timeout, connectionReset, invalidURL, other
        }
        package var kind: Kind
        package var message: String
        package var description: String { "\(kind): \(message)" }
    }

    package let configuration: Configuration
    package let limiter: ConcurrencyLimiter
    private let client: HTTPClient
    /// Whether ``shutdown()`` shuts ``client`` down: only when the transport made it.
    private let ownsClient: Bool
    /// Set by the first ``shutdown()``: later calls do nothing.
    private let shutDown = Atomic<Bool>(false)
    private let clock: any WallClock

    /// A transport with its own HTTP client, made from `configuration`; call ``shutdown()`` when
    /// done.
    /// - Parameters:
    ///   - configuration: Timeouts, compression and limits. Default ``Configuration/init()``.
    ///   - clock: The clock responses are stamped with. Default the system clock.
    package convenience init(configuration: Configuration = Configuration(), clock: any WallClock = SystemClock()) {
        var clientConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(configuration.connectTimeout.totalNanoseconds)),
            decompression: .disabled)
        clientConfiguration.httpVersion = .automatic
        // A failed connection fails its request at once: the sink's scheduler retries with its
        // own backoff, jitter and breaker, and reports a refused connection after the first
        // attempt. The client's own retries would hold each attempt up to the connect timeout.
        // (Requests queued for the host then fail together; each scheduler retries its own.)
        clientConfiguration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        self.init(client: client, ownsClient: true, configuration: configuration, clock: clock)
    }

    /// A transport over an `HTTPClient` the app already has: its connection pool, event loops,
    /// TLS and proxy settings. The app keeps owning it: ``shutdown()`` leaves it running.
    ///
    /// The client's own configuration applies where it has one: its connect timeout, TLS,
    /// decompression and redirects (``Configuration/connectTimeout`` does not). Request
    /// timeouts, gzip, the User-Agent and the concurrency limit are the transport's.
    /// - Parameters:
    ///   - client: The app's client; it must stay running while the transport sends.
    ///   - configuration: Request timeout, compression and limits. Default ``Configuration/init()``.
    ///   - clock: The clock responses are stamped with. Default the system clock.
    package convenience init(client: HTTPClient, configuration: Configuration = Configuration(), clock: any WallClock = SystemClock()) {
        self.init(client: client, ownsClient: false, configuration: configuration, clock: clock)
    }

    private init(client: HTTPClient, ownsClient: Bool, configuration: Configuration, clock: any WallClock) {
        self.configuration = configuration
        self.clock = clock
        self.client = client
        self.ownsClient = ownsClient
        limiter = ConcurrencyLimiter(limit: configuration.maximumConcurrentRequests)
    }

    /// Closes the connections of the client the transport made, once (later calls do
    /// nothing); an app's client (``init(client:configuration:clock:)``) is left running, for
    /// the app to shut down.
    /// - Throws: What `HTTPClient.shutdown()` throws.
    package func shutdown() async throws {
        guard ownsClient, !shutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try await client.shutdown()
    }

    /// Sends `request` once, adding `credentials` to its headers. The request is consumed: its
    /// body is let go as soon as the compressed copy exists, not held through the round trip
    /// (a 1 MiB batch's JSON, twice over with two batches in flight).
    /// - Returns: the response (status, headers, at most `SinkResponse.maximumBodyBytes` of body),
    ///   or why there was none.
    package func send(_ request: consuming SinkRequest, credentials: [SinkRequest.Header] = []) async -> Result<SinkResponse, Failure> {
        await send(prepare(request, credentials: credentials))
    }

    /// A request ready to go: headers set, body compressed. Made by ``prepare(_:credentials:)``
    /// ahead of ``send(_:)-(Prepared)``, so compression can run while something else decides
    /// whether the request may leave yet.
    package struct Prepared: Sendable {
        fileprivate var url: String
        fileprivate var request: HTTPClientRequest
        /// What no part of the answer may repeat (``secretValues(_:carried:)``).
        fileprivate var secrets: [[UInt8]]
    }

    /// Sets the headers (User-Agent, the request's own, `credentials` last) and compresses the
    /// body when the request allows gzip and reaches ``Configuration/gzipThreshold``. The
    /// request is consumed: its JSON is let go once the compressed copy exists.
    package func prepare(_ request: consuming SinkRequest, credentials: [SinkRequest.Header] = []) -> Prepared {
        let url = request.url
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        outgoing.headers.add(name: "User-Agent", value: configuration.userAgent)
        for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
        for header in credentials { outgoing.headers.replaceOrAdd(name: header.name, value: header.value) }
        if request.allowsGzip && request.body.count >= configuration.gzipThreshold,
           let compressed = try? Gzip.compress(request.body, level: configuration.gzipLevel)
        {
            outgoing.body = .bytes(compressed)
            outgoing.headers.replaceOrAdd(name: "Content-Encoding", value: "gzip")
        } else {
            outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        }
        request.body = []
        return Prepared(url: url, request: outgoing, secrets: Self.secretValues(credentials, carried: request.secrets.values))
    }

    /// Sends a prepared request once.
    /// - Returns: the response (status, headers, at most `SinkResponse.maximumBodyBytes` of body),
    ///   or why there was none.
    package func send(_ prepared: Prepared) async -> Result<SinkResponse, Failure> {
        let (url, outgoing, secrets) = (prepared.url, prepared.request, prepared.secrets)
        let timeout = TimeAmount.nanoseconds(configuration.requestTimeout.totalNanoseconds)
        let client = self.client
        let clock = self.clock
        do {
            return try await limiter.withPermit {
                let response = try await client.execute(outgoing, timeout: timeout)
                // An app's client may follow redirects (AsyncHTTPClient's default does, turning
                // a POST into a GET after a 301/302/303): the final answer is then not the
                // destination's to this request, and a 2xx from it must never acknowledge the
                // batch. The first answer, the redirect, is what the sink classifies.
                if response.history.count > 1, let redirect = response.history.first?.responseHead {
                    let headers = redirect.headers.map { SinkRequest.Header($0.name, Self.scrub($0.value, secrets)) }
                    return .success(SinkResponse(status: Int(redirect.status.code), headers: headers, body: [], receivedAt: clock.now))
                }
                var collected: [UInt8] = []
                for try await chunk in response.body {
                    let room = SinkResponse.maximumBodyBytes - collected.count
                    collected.append(contentsOf: chunk.readableBytesView.prefix(room))
                    if collected.count >= SinkResponse.maximumBodyBytes { break }  // the rest is dropped
                }
                // A server may echo the request's headers in its answer (an error page, a debug
                // body): no credential value may reach a dead letter's reason or stderr from there.
                let headers = response.headers.map { SinkRequest.Header($0.name, Self.scrub($0.value, secrets)) }
                return .success(SinkResponse(status: Int(response.status.code), headers: headers,
                                             body: Self.scrub(collected, secrets), receivedAt: clock.now))
            }
        } catch {
            return .failure(Self.describe(error, url: url))
        }
    }

    // MARK: - Credentials out of answers

    /// What is put in place of a credential found in an answer.
    static let scrubbedMarker = Array("[REDACTED]".utf8)

    /// The byte strings no answer may repeat: each credential header's value, its token after a
    /// scheme (`Bearer …`, `Basic …`), a basic password decoded, and the secrets a request
    /// carries in its body (`carried`: ``SinkRequest/secrets``). Values shorter than 4 bytes
    /// are left out: they would mangle ordinary text and protect nothing.
    static func secretValues(_ credentials: [SinkRequest.Header], carried: [String] = []) -> [[UInt8]] {
        var values = carried
        for header in credentials {
            values.append(header.value)
            if let space = header.value.firstIndex(of: " ") {
                let scheme = header.value[..<space].lowercased()
                let token = String(header.value[header.value.index(after: space)...])
                values.append(token)
                if scheme == "basic", let decoded = Data(base64Encoded: token).map({ String(decoding: $0, as: UTF8.self) }),
                   let colon = decoded.firstIndex(of: ":") {
                    values.append(String(decoded[decoded.index(after: colon)...]))
                }
            }
        }
        // Longest first, so a whole header value is replaced before its token alone.
        return values.map { Array($0.utf8) }.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    /// `bytes` with every occurrence of every secret replaced by ``scrubbedMarker``.
    static func scrub(_ bytes: [UInt8], _ secrets: [[UInt8]]) -> [UInt8] {
        var output = bytes
        for secret in secrets where output.count >= secret.count {
            var result: [UInt8] = []
            var index = 0
            var replaced = false
            while index < output.count {
                if output[index] == secret[0], index + secret.count <= output.count,
                   output[index..<(index + secret.count)].elementsEqual(secret) {
                    result.append(contentsOf: scrubbedMarker)
                    index += secret.count
                    replaced = true
                } else {
                    result.append(output[index])
                    index += 1
                }
            }
            if replaced { output = result }
        }
        return output
    }

    static func scrub(_ text: String, _ secrets: [[UInt8]]) -> String {
        secrets.isEmpty ? text : String(decoding: scrub(Array(text.utf8), secrets), as: UTF8.self)
    }

    // MARK: - Failures in words

    /// A failure in one readable line that names the host but never a credential: what happened
    /// and what it likely means, not the HTTP client's internal description.
    static func describe(_ error: any Error, url: String) -> Failure {
        let parsed = URL(string: url)
        let host = parsed.map { "\($0.host ?? "?")\($0.port.map { ":\($0)" } ?? "")" } ?? "?"
        let text = String(describing: error)
        let lowered = text.lowercased()
        if error is HTTPParserError {
            let tls = parsed?.scheme == "http" ? " (an HTTPS port spoken to with http://?)" : ""
            return Failure(kind: .other, message: "\(host) answered with something that is not HTTP\(tls); is this the right host and port?")
        }
        if let error = error as? HTTPClientError {
            if [.connectTimeout].contains(error) {
                return Failure(kind: .timeout, message: "no connection to \(host) within the connect timeout (is the host reachable?)")
            }
            if [.deadlineExceeded, .readTimeout, .writeTimeout].contains(error) {
                return Failure(kind: .timeout, message: "\(host) did not answer within the request timeout")
            }
            if error == .remoteConnectionClosed {
                return Failure(kind: .connectionReset, message: "\(host) closed the connection before answering")
            }
            if [.invalidURL, .emptyHost, .emptyScheme].contains(error) || text.contains("unsupportedScheme") {
                return Failure(kind: .invalidURL, message: "the URL for \(host) is not one Spool can send to (\(text.prefix(120)))")
            }
        }
        if lowered.contains("refused") || text.contains("ECONNREFUSED") {
            return Failure(kind: .connectionRefused, message: "\(host) refused the connection (is the destination running, and on that port?)")
        }
        if lowered.contains("timeout") || lowered.contains("timed out") {
            return Failure(kind: .timeout, message: "\(host) did not answer in time")
        }
        if lowered.contains("handshake") || lowered.contains("ssl") || lowered.contains("tls") || lowered.contains("certificate") {
            return Failure(kind: .other, message: "TLS with \(host) failed: \(text.prefix(200)) (an http:// server spoken to with https://, or a certificate that does not verify?)")
        }
        if lowered.contains("reset") || text.contains("ECONNRESET") || lowered.contains("closed") {
            return Failure(kind: .connectionReset, message: "\(host) closed or reset the connection before answering")
        }
        if lowered.contains("resolve") || lowered.contains("dns") || lowered.contains("lookup") {
            return Failure(kind: .other, message: "the name \(parsed?.host ?? host) could not be resolved")
        }
        return Failure(kind: .other, message: "talking to \(host) failed: \(text.prefix(300))")
    }
}
