import ArgumentParser
import Foundation
import Spool
import SpoolForwarding

/// `spool validate`: checks a configuration file, and with `--connect` that its destinations
/// answer, without opening the spool or sending an entry.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a configuration file (every error at once, with its line); with --connect, that each destination answers.",
        discussion: """
            Loads the file as `spool forward --config` does: every problem is reported at once, \
            one line each with its key path and line; environment variables in values (${VAR}) \
            are replaced; every credential's variable or file is read (never printed). A file \
            without sinks is an error. The spool is not opened or created.

            --connect also sends one GET (with the sink's credentials) to each destination's URL \
            and reports, per sink, whether it answers: any HTTP status counts, except 401 and \
            403 (credentials refused), 404 (wrong URL) and 5xx. No entry is sent. A console sink \
            needs no connection.

            Exit status: 0 valid (and, with --connect, every destination answers), 1 not, 2 \
            usage error.

            Example:
              spool validate --config /etc/spool/billing.yaml --connect
            """
    )

    @Option(help: ArgumentHelp("The YAML configuration file (docs/configuration.md).", valueName: "file"))
    var config: String

    @Flag(help: "Also check that each destination answers (one GET each; no entry is sent).")
    var connect = false

    func run() async throws {
        let configuration = try SpoolConfiguration(contentsOfFile: config)
        guard !configuration.sinks.isEmpty else {
            throw SpoolError(.configuration, "\(config) names no sinks, so spool forward would have nothing to do; add one under 'sinks:' (docs/configuration.md)")
        }
        try configuration.checkSinks()
        let names = configuration.sinks.map { "\($0.name) (\($0.destination.target))" }.joined(separator: ", ")
        print("\(config): valid; spool \(configuration.spoolPath), \(configuration.sinks.count) sink\(configuration.sinks.count == 1 ? "" : "s"): \(names)")
        guard connect else { return }

        let transport = Transport(configuration: configuration.transport)
        var failures = 0
        for sink in configuration.sinks {
            if case .console = sink.destination {
                print("\(sink.name): writes to standard output; nothing to connect to")
                continue
            }
            let url = sink.destination.target
            let credentials = try sink.credentials.headers(at: "sinks.\(sink.name).credentials",
                                                           environment: ProcessInfo.processInfo.environment,
                                                           readFile: SpoolConfiguration.readSecretFile)
            let probe = SinkRequest(method: "GET", url: url, body: [], allowsGzip: false)
            switch await transport.send(probe, credentials: credentials) {
            case .success(let response):
                let problem: String? = switch response.status {
                case 401, 403: "the credentials were refused"
                case 404: "nothing at this URL (is the path right?)"
                case 407: "a proxy wants credentials"
                case 500...: "the destination is failing"
                default: nil
                }
                if let problem {
                    failures += 1
                    print("\(sink.name): \(url) answers HTTP \(response.status): \(problem)")
                } else {
                    print("\(sink.name): \(url) answers (HTTP \(response.status) to a GET)")
                }
            case .failure(let failure):
                failures += 1
                print("\(sink.name): \(failure.message)")
            }
        }
        try? await transport.shutdown()
        if failures > 0 {
            throw SpoolError(.io, "\(failures) of \(configuration.sinks.count) destinations did not answer as they should (above)")
        }
    }
}
