import ArgumentParser
import Foundation
import Spool

/// `spool sinks`: the registered sinks, and removing one that no longer exists.
struct Sinks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sinks",
        abstract: "List the sinks registered in a spool, or remove one.",
        discussion: """
            Every registered sink holds back the entries it has not sent: a destination that \
            is gone for good keeps the spool growing until its sink is removed.

            Example:
              spool sinks list --spool app.spool
              spool sinks remove --spool app.spool old-loki
            """,
        subcommands: [List.self, Remove.self]
    )

    // MARK: - list

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List sinks: position, pending, delivered, dead-lettered, lease.",
            discussion: """
                Read-only. --json prints one JSON object per sink per line, as in the sinks of \
                `spool stats --json` (snake_case keys).

                Example:
                  spool sinks list --spool app.spool --json | jq 'select(.pending > 0) | .name'
                """
        )

        @OptionGroup var spoolPath: SpoolPathOption
        @Flag(help: "Print one JSON object per sink per line.") var json = false

        func run() throws {
            let clock = SystemClock()
            let sinks = try SpoolStore.stats(path: try spoolPath.resolved(), clock: clock).sinks
            if json {
                for sink in sinks { print(try Format.json(sink)) }
                return
            }
            guard !sinks.isEmpty else {
                print("no sinks registered (entries stay until a sink is registered and delivers them)")
                return
            }
            let now = clock.now.nanoseconds
            var rows = [["sink", "position", "pending", "delivered", "dead-lettered", "lease"]]
            for sink in sinks {
                rows.append([sink.name, "\(sink.position)", "\(sink.pending)", "\(sink.delivered)", "\(sink.deadLettered)", Self.lease(sink, now: now)])
            }
            print(Format.table(rows))
        }

        static func lease(_ sink: SpoolStats.Sink, now: Int64) -> String {
            guard let owner = sink.leaseOwner, let expires = sink.leaseExpiresNanoseconds, expires > now else { return "free" }
            return "\(owner) until \(UnixTime.iso8601(nanoseconds: expires))"
        }
    }

    // MARK: - remove

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a sink: it no longer holds entries back.",
            discussion: """
                Entries every remaining sink has passed are deleted at once. The sink's dead \
                letters stay (purge them with `spool dlq purge --sink NAME`). A sink whose lease \
                a running forwarder holds is refused: stop that forwarder first. An unknown \
                name exits 1.

                Example:
                  spool sinks remove --spool app.spool old-loki
                """
        )

        @OptionGroup var spoolPath: SpoolPathOption
        @Argument(help: "The sink's name.") var name: String
        @Flag(help: "Print {\"removed\": NAME, \"deleted_entries\": N}.") var json = false

        func run() throws {
            let path = try spoolPath.resolved()
            let store = try ExistingSpool.open(path)
            let clock = SystemClock()
            guard let sink = try store.stats().sinks.first(where: { $0.name == name }) else {
                throw SpoolError(.unknownSink, "no sink named '\(name)' is registered in \(path)")
            }
            if let owner = sink.leaseOwner, let expires = sink.leaseExpiresNanoseconds, expires > clock.now.nanoseconds {
                throw SpoolError(.leaseHeld, "sink '\(name)' is being forwarded by \(owner) until \(UnixTime.iso8601(nanoseconds: expires)) (its lease); stop that forwarder first")
            }
            let before = try store.stats().entries
            try store.removeSink(name)
            let deleted = before - (try store.stats().entries)
            try store.close()
            if json {
                print(try Format.json(Removed(removed: name, deletedEntries: deleted)))
            } else {
                print("removed sink '\(name)'; \(deleted) entr\(deleted == 1 ? "y" : "ies") no other sink needed were deleted")
            }
        }

        struct Removed: Encodable {
            var removed: String
            var deletedEntries: Int64
            enum CodingKeys: String, CodingKey {
                case removed
                case deletedEntries = "deleted_entries"
            }
        }
    }
}
