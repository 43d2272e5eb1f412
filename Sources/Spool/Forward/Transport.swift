import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The one HTTP path of every sink: one attempt of one request, through AsyncHTTPClient, with
/// timeouts, gzip above a threshold, a User-Agent, credentials from configuration and the shared
/// FIFO concurrency limit. Retrying is the scheduler's job; the transport never retries.
///
/// TLS certificates are verified (AsyncHTTPClient's default); redirects are not followed (a
/// redirect from a log backend is a configuration problem, and following one could send
/// credentials elsewhere).
public final class Transport: Sendable {
    /// Timeouts, compression and limits, with documented defaults.
    public struct Configuration: Sendable, Hashable {
        /// Default 5 s.
        public var connectTimeout: Duration = .seconds(5)
        /// The whole request, response body included. Default 10 s.
        public var requestTimeout: Duration = .seconds(10)
        /// Bodies at least this large are sent gzip-compressed when the sink allows it. Default 1 KiB.
        public var gzipThreshold: Int = 1024
        /// zlib's compression level for request bodies, 1 (fastest) to 9 (smallest). Default 1:
        /// on log lines it takes a third of the CPU of zlib's default (6) for a body about 30 %
        /// larger, and compression is the largest cost of forwarding once encoding is cheap
        /// (BENCHMARKS.md, "Forwarding real lines").
        public var gzipLevel: Int = 1
        /// Requests in flight at once, over every sink. Default 5.
        public var maximumConcurrentRequests: Int = 5
        /// Default `spool/<version>`.
        public var userAgent: String = "spool/0.1"
        public init() {}
    }

    /// Why an attempt got no response. The message never holds a credential.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable {
            case connectionRefused, timeout, connectionReset, invalidURL, other
        }
        public var kind: Kind
        public var message: String
        public var description: String { "\(kind): \(message)" }
    }

    public let configuration: Configuration
    public let limiter: ConcurrencyLimiter
    private let client: HTTPClient

    /// A transport with its own HTTP client; call ``shutdown()`` when done.
    private let clock: any WallClock

    public init(configuration: Configuration = Configuration(), clock: any WallClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        limiter = ConcurrencyLimiter(limit: configuration.maximumConcurrentRequests)
        var clientConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(configuration.connectTimeout.totalNanoseconds)),
            decompression: .disabled)
        clientConfiguration.httpVersion = .automatic
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// Closes the connections.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// Sends `request` once, adding `credentials` to its headers.
    /// - Returns: the response (status, headers, at most `SinkResponse.maximumBodyBytes` of body),
    ///   or why there was none.
    public func send(_ request: SinkRequest, credentials: [SinkRequest.Header] = []) async -> Result<SinkResponse, Failure> {
        var outgoing = HTTPClientRequest(url: request.url)
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
        let timeout = TimeAmount.nanoseconds(configuration.requestTimeout.totalNanoseconds)
        let client = self.client
        let clock = self.clock
        do {
            return try await limiter.withPermit {
                let response = try await client.execute(outgoing, timeout: timeout)
                var collected: [UInt8] = []
                for try await chunk in response.body {
                    let room = SinkResponse.maximumBodyBytes - collected.count
                    collected.append(contentsOf: chunk.readableBytesView.prefix(room))
                    if collected.count >= SinkResponse.maximumBodyBytes { break }  // the rest is dropped
                }
                let headers = response.headers.map { SinkRequest.Header($0.name, $0.value) }
                return .success(SinkResponse(status: Int(response.status.code), headers: headers, body: collected, receivedAt: clock.now))
            }
        } catch {
            return .failure(Self.describe(error, url: request.url))
        }
    }

    /// A failure in words that name the host but never a credential.
    static func describe(_ error: any Error, url: String) -> Failure {
        let host = URL(string: url).map { "\($0.host ?? "?")\($0.port.map { ":\($0)" } ?? "")" } ?? "?"
        let text = String(describing: error)
        let kind: Failure.Kind
        if let error = error as? HTTPClientError {
            if [.connectTimeout, .deadlineExceeded, .readTimeout, .writeTimeout].contains(error) {
                kind = .timeout
            } else if error == .remoteConnectionClosed {
                kind = .connectionReset
            } else if [.invalidURL, .emptyHost, .emptyScheme].contains(error) || text.contains("unsupportedScheme") {
                kind = .invalidURL
            } else {
                kind = text.contains("refused") ? .connectionRefused : .other
            }
        } else if text.contains("refused") || text.contains("ECONNREFUSED") {
            kind = .connectionRefused
        } else if text.lowercased().contains("timeout") || text.lowercased().contains("timed out") {
            kind = .timeout
        } else if text.contains("reset") || text.contains("ECONNRESET") || text.contains("closed") {
            kind = .connectionReset
        } else {
            kind = .other
        }
        return Failure(kind: kind, message: "\(kind.rawValue) talking to \(host): \(text.prefix(300))")
    }
}
