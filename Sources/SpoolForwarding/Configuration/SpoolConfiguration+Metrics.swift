import Foundation
import Spool

extension SpoolConfiguration {
    /// How `spool forward` lets itself be watched (file section `metrics`): the address of its
    /// `/metrics` and `/health` endpoint, when unhealthy a failing sink becomes, and how often
    /// it prints a status line when stderr is not a terminal. The command line's
    /// `--metrics-address`, `--unhealthy-after` and `--status-interval` override these.
    ///
    /// ```swift
    /// var configuration = SpoolConfiguration(spoolPath: "/var/lib/app/app.spool")
    /// configuration.metrics.address = try MetricsAddress(parsing: ":9464")   // 127.0.0.1:9464
    /// ```
    package struct Metrics: Sendable, Hashable {
        /// Where `/metrics` and `/health` are served. Default nil: not served.
        package var address: MetricsAddress?
        /// A sink whose attempts have failed without a break for longer than this makes
        /// `/health` answer 503. Default 60 s.
        package var unhealthyAfter: Duration = .seconds(60)
        /// How often a summary line goes to stderr when it is not a terminal; nil: never.
        /// Default 60 s.
        package var statusInterval: Duration? = .seconds(60)

        /// Not served, the default threshold and status interval.
        package init() {}
    }
}

/// A host and port to listen on, written `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT`; the
/// last two mean the loopback interface (127.0.0.1). Port 0 lets the system choose one.
package struct MetricsAddress: Sendable, Hashable, CustomStringConvertible {
    /// A name or an IP address; `127.0.0.1` unless given.
    package var host: String
    /// 0 to 65535; 0 lets the system choose.
    package var port: Int

    /// Reads `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT`.
    /// - Parameter text: The address as written on a command line or in a configuration file.
    /// - Throws: ``SpoolError`` (`invalidArgument`) saying what is wrong with `text`.
    package init(parsing text: String) throws(SpoolError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let refuse = { (why: String) in
            SpoolError(.invalidArgument, "metrics address '\(text)': \(why); expected HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:9464)")
        }
        var host = "127.0.0.1"
        var portText = trimmed
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else { throw refuse("an IPv6 address needs its closing ']'") }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            let rest = trimmed[trimmed.index(after: close)...]
            guard rest.hasPrefix(":") else { throw refuse("a port must follow the IPv6 address, after ':'") }
            portText = String(rest.dropFirst())
            guard !host.isEmpty else { throw refuse("the IPv6 address is empty") }
        } else if let colon = trimmed.lastIndex(of: ":") {
            let named = String(trimmed[..<colon])
            guard !named.contains(":") else { throw refuse("write an IPv6 address in brackets, [::1]:9464") }
            if !named.isEmpty { host = named }
            portText = String(trimmed[trimmed.index(after: colon)...])
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), let port = Int(portText), (0...65535).contains(port) else {
            throw refuse(portText.isEmpty ? "the port is missing" : "'\(portText)' is not a port (0 to 65535)")
        }
        guard !host.contains(where: { $0 == " " || $0 == "/" }) else { throw refuse("'\(host)' is not a host name or address") }
        self.host = host
        self.port = port
    }

    /// `host:port`, with an IPv6 address in brackets.
    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
