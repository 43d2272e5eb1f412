import ArgumentParser
import Foundation
import Spool
import SpoolForwarding

/// The destinations of `spool forward` beyond Loki and HTTP: OTLP, PagerDuty, the Pushgateway
/// and the console. PagerDuty's routing key is a credential (``CredentialOptions``): giving it
/// is what turns PagerDuty on.
struct SinkOptions: ParsableArguments {
    // MARK: - OTLP

    @Option(help: ArgumentHelp("An OTLP/HTTP collector's base URL; /v1/logs is appended.", valueName: "url"))
    var otlp: String?

    @Option(help: ArgumentHelp("The OTLP resource's service.name (default: unknown_service).", valueName: "name"))
    var otlpServiceName: String?

    @Option(name: .customLong("otlp-resource"), help: ArgumentHelp("An OTLP resource attribute (repeatable).", valueName: "key=value"))
    var otlpResources: [String] = []

    @Option(help: ArgumentHelp("The OTLP sink's name (default: otlp).", valueName: "name"))
    var otlpName: String?

    // MARK: - PagerDuty

    @Option(help: ArgumentHelp("The PagerDuty Events v2 endpoint (default: \(PagerDutySink.Configuration.defaultURL)).", valueName: "url"))
    var pagerdutyURL: String?

    @Option(help: ArgumentHelp("Entries at or above this level page (default: error).", valueName: "level"))
    var pagerdutyMinLevel: LevelArgument?

    @Option(help: ArgumentHelp("The events' payload.source (default: this host's name).", valueName: "source"))
    var pagerdutySource: String?

    @Option(help: ArgumentHelp("The events' payload.component.", valueName: "component"))
    var pagerdutyComponent: String?

    @Option(help: ArgumentHelp("The events' payload.group.", valueName: "group"))
    var pagerdutyGroup: String?

    @Option(help: ArgumentHelp("The PagerDuty sink's name (default: pagerduty).", valueName: "name"))
    var pagerdutyName: String?

    // MARK: - Pushgateway

    @Option(help: ArgumentHelp("A Prometheus Pushgateway's base URL: entry counters are PUT there.", valueName: "url"))
    var pushgateway: String?

    @Option(help: ArgumentHelp("With --pushgateway: the grouping key's job (default: spool).", valueName: "name"))
    var job: String?

    @Option(help: ArgumentHelp("With --pushgateway: the grouping key's instance (default: this host's name).", valueName: "name"))
    var instance: String?

    @Option(help: ArgumentHelp("The Pushgateway sink's name (default: pushgateway).", valueName: "name"))
    var pushgatewayName: String?

    // MARK: - Console

    @Flag(help: "Replay the entries to standard output.")
    var console = false

    @Option(help: "With --console: auto (human on a terminal, json otherwise), human or json.")
    var consoleFormat: ConsoleFormatArgument?

    @Option(help: ArgumentHelp("The console sink's name (default: console).", valueName: "name"))
    var consoleName: String?

    // MARK: - Checks

    /// Whether any of these options (beyond the destinations' URLs) was given.
    var givesOptions: Bool {
        otlpServiceName != nil || !otlpResources.isEmpty || otlpName != nil || pagerdutyMinLevel != nil || pagerdutySource != nil
            || pagerdutyComponent != nil || pagerdutyGroup != nil || pagerdutyName != nil || job != nil || instance != nil
            || pushgatewayName != nil || consoleFormat != nil || consoleName != nil
    }

    /// Options that describe a sink that is not there are mistakes, not no-ops.
    func validate(pagerDutyEnabled: Bool) throws {
        func requires(_ given: Bool, _ options: String, _ sink: String) throws {
            if given { throw ValidationError("\(options) only apply with \(sink).") }
        }
        if otlp == nil {
            try requires(otlpServiceName != nil || !otlpResources.isEmpty || otlpName != nil,
                         "--otlp-service-name, --otlp-resource and --otlp-name", "--otlp URL")
        }
        if !pagerDutyEnabled {
            if pagerdutyURL != nil {
                throw ValidationError("--pagerduty-url needs the routing key: --pagerduty-routing-key-env VAR or --pagerduty-routing-key-file PATH.")
            }
            try requires(pagerdutyMinLevel != nil || pagerdutySource != nil || pagerdutyComponent != nil
                         || pagerdutyGroup != nil || pagerdutyName != nil,
                         "--pagerduty-min-level, --pagerduty-source, --pagerduty-component, --pagerduty-group and --pagerduty-name",
                         "PagerDuty (--pagerduty-routing-key-env VAR or --pagerduty-routing-key-file PATH)")
        }
        if pushgateway == nil {
            try requires(job != nil || instance != nil || pushgatewayName != nil,
                         "--job, --instance and --pushgateway-name", "--pushgateway URL")
        }
        if !console {
            try requires(consoleFormat != nil || consoleName != nil, "--console-format and --console-name", "--console")
        }
        for resource in otlpResources where !resource.contains("=") {
            throw ValidationError("--otlp-resource takes key=value, not '\(resource)'.")
        }
    }
}

/// A `--console-format` value.
enum ConsoleFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case auto, human, json

    /// Human lines are coloured only on a terminal, and never with `NO_COLOR` set.
    var format: ConsoleHandler.Format {
        switch self {
        case .auto: .automatic
        case .json: .json
        case .human: .human(colour: isatty(1) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"]?.isEmpty ?? true))
        }
    }
}
