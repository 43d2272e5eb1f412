import Foundation
import Spool
import SpoolForwarding

// What `spool forward` runs: the store, the destinations and the transport settings, from the
// command-line options or from `--config FILE`.
extension Forward {
    /// The store, the destinations and the transport settings to run.
    struct Plan {
        var store: SpoolStore
        var destinations: [Destination]
        var transport: Transport.Configuration
        /// The configuration file, with `--config`: its redaction and ingest section apply to `--stdin`.
        var file: SpoolConfiguration?
    }

    /// From the command-line options.
    func planFromOptions() throws -> Plan {
        let path = try spoolPath.resolved()
        let secrets = try self.secrets()
        var storeConfiguration = SpoolStore.Configuration()
        storeConfiguration.report = StoreReports().report
        if !stdin { try ExistingSpool.requireFile(path) }  // only --stdin writes: it may create the spool
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        do {
            return Plan(store: store, destinations: try destinations(store: store, secrets: secrets), transport: Transport.Configuration())
        } catch {
            try? store.close()
            throw error
        }
    }

    /// From `--config FILE`: its spool (unless `--spool` or SPOOL_PATH names another), store and
    /// transport settings, and sinks with their own scheduling. Secrets are read first, so a
    /// missing variable or file fails before the spool is opened.
    func planFromConfiguration(_ file: String) throws -> Plan {
        let configuration = try SpoolConfiguration(contentsOfFile: file)
        guard !configuration.sinks.isEmpty else {
            throw SpoolError(.configuration, "\(file) names no sinks, so spool forward would have nothing to do; add one under 'sinks:' (docs/configuration.md)")
        }
        try configuration.checkSinks()
        // Before the spool is opened or a sink registered: the file's format against --field.
        if stdin {
            try IngestSettings(file: configuration.ingest, format: format, topic: topic, level: level, fields: fields)
                .check(fieldsGiven: !fields.isEmpty)
        }
        var storeConfiguration = configuration.store
        storeConfiguration.report = StoreReports().report
        let path = try spoolPath.resolved(fallback: configuration.spoolPath)
        if !stdin { try ExistingSpool.requireFile(path) }  // only --stdin writes: it may create the spool
        let store = try SpoolStore(path: path, configuration: storeConfiguration)
        do {
            // With the spool open: a Pushgateway sink counts in it, and its pusher is a companion.
            let destinations = try zip(configuration.makeSinks(store: store), configuration.sinks).map { resolved, written in
                var destination = Destination(name: resolved.scheduling.name, sink: resolved.sink)
                destination.scheduling = resolved.scheduling
                destination.companion = resolved.companion
                destination.target = written.destination.target
                if once, case .pushgateway = written.destination {
                    throw SpoolError(.invalidArgument, "--once cannot apply to the pushgateway sink '\(written.name)': its counters are kept in the spool under the sink's name, which a one-off sink does not keep")
                }
                return destination
            }
            return Plan(store: store, destinations: destinations, transport: configuration.transport, file: configuration)
        } catch {
            try? store.close()
            throw error
        }
    }
}
