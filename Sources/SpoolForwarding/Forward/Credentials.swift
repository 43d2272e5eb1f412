import Foundation
import Spool

/// A sink's credentials, read from an environment variable or a file (never from a command
/// line, where any user of the machine can read them) and turned into the headers the transport
/// adds to every request (``SinkScheduler/Configuration/credentials``).
///
/// Its `description`, `debugDescription` and mirror name where a secret came from, never the
/// secret itself, so a credential printed by accident stays safe.
///
/// ```swift
/// let credentials = try Credentials.bearer(token: .environment("LOKI_TOKEN"))
/// var configuration = SinkScheduler.Configuration(name: "loki")
/// configuration.credentials = credentials.headers
/// print(credentials)  // bearer token from $LOKI_TOKEN (Authorization: <redacted>)
/// ```
package struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Where a secret is read from.
    package enum Source: Sendable, Hashable, CustomStringConvertible {
        /// An environment variable, by name.
        case environment(String)
        /// A file, by path; one trailing newline (and CR) is removed.
        case file(String)

        /// `$NAME` or `file PATH`: where, never what.
        package var description: String {
            switch self {
            case .environment(let name): "$\(name)"
            case .file(let path): "file \(path)"
            }
        }
    }

    /// The headers to send, secrets included. Give them to the transport only.
    package let headers: [SinkRequest.Header]
    /// Where the secret came from, for messages.
    private let origin: String

    /// No credentials: no header.
    package static let none = Credentials(headers: [], origin: "no credentials")

    private init(headers: [SinkRequest.Header], origin: String) {
        self.headers = headers
        self.origin = origin
    }

    /// HTTP basic authentication: `Authorization: Basic base64(user:password)`.
    /// - Parameters:
    ///   - user: The user name (not a secret; it must not contain `:`).
    ///   - password: Where the password is.
    ///   - environment: The variables to read from. Default: the process's environment.
    /// - Throws: ``SpoolError`` `.invalidArgument` for a missing or empty variable, a user with
    ///   a `:`, or a control character in a value; `.io` for a file that cannot be read. The
    ///   message names the variable or file, never a value.
    package static func basic(user: String, password: Source,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpoolError) -> Credentials {
        guard !user.isEmpty, !user.contains(":") else {
            throw SpoolError(.invalidArgument, "a basic-auth user name must be non-empty and must not contain ':'")
        }
        try checkNoControlCharacters(user, what: "the basic-auth user name")
        let secret = try read(password, what: "basic-auth password", environment: environment)
        let encoded = Data("\(user):\(secret)".utf8).base64EncodedString()
        return Credentials(headers: [SinkRequest.Header("Authorization", "Basic \(encoded)")],
                           origin: "basic auth for user '\(user)', password from \(password)")
    }

    /// A bearer token: `Authorization: Bearer TOKEN`.
    /// - Parameters:
    ///   - token: Where the token is.
    ///   - environment: The variables to read from. Default: the process's environment.
    /// - Throws: ``SpoolError`` as ``basic(user:password:environment:)`` does.
    package static func bearer(token: Source,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpoolError) -> Credentials {
        let secret = try read(token, what: "bearer token", environment: environment)
        return Credentials(headers: [SinkRequest.Header("Authorization", "Bearer \(secret)")],
                           origin: "bearer token from \(token)")
    }

    /// `basic auth for user 'u', password from $VAR (Authorization: <redacted>)`.
    package var description: String {
        headers.isEmpty ? origin : "\(origin) (\(headers.map { "\($0.name): <redacted>" }.joined(separator: ", ")))"
    }

    package var debugDescription: String { "Credentials(\(description))" }

    /// Reflection (`dump`, the debugger) shows the origin only.
    package var customMirror: Mirror { Mirror(self, children: ["origin": origin], displayStyle: .struct) }

    // MARK: - Reading secrets

    /// Reads a secret that goes somewhere other than a header (a PagerDuty routing key goes in
    /// the request body), with the same rules and messages as the credentials.
    /// - Parameters:
    ///   - source: Where the secret is.
    ///   - what: What it is, for messages: `PagerDuty routing key`.
    ///   - environment: The variables to read from. Default: the process's environment.
    /// - Throws: ``SpoolError`` `.invalidArgument` for a missing or empty variable or a control
    ///   character; `.io` for a file that cannot be read. The message names the variable or
    ///   file, never a value.
    package static func secret(_ source: Source, what: String,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws(SpoolError) -> String {
        try read(source, what: what, environment: environment)
    }

    private static func read(_ source: Source, what: String, environment: [String: String]) throws(SpoolError) -> String {
        var value: String
        switch source {
        case .environment(let name):
            guard let found = environment[name], !found.isEmpty else {
                throw SpoolError(.invalidArgument, "the \(what) comes from the environment variable \(name), which is not set or empty")
            }
            value = found
        case .file(let path):
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                let reason = (error as NSError).localizedFailureReason ?? "it does not exist or is not readable"
                throw SpoolError(.io, "cannot read the \(what) file \(path): \(reason)")
            }
            value = String(decoding: data, as: UTF8.self)
            if value.hasSuffix("\n") { value.removeLast() }  // "\r\n" is one Character
            guard !value.isEmpty else { throw SpoolError(.invalidArgument, "the \(what) file \(path) is empty") }
        }
        try checkNoControlCharacters(value, what: "the \(what) from \(source)")
        return value
    }

    /// A newline in a header value would smuggle a header (or break the request); say so
    /// without showing the value.
    private static func checkNoControlCharacters(_ value: String, what: String) throws(SpoolError) {
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw SpoolError(.invalidArgument, "\(what) contains a control character (a line break?); it cannot go into an HTTP header")
        }
    }
}
