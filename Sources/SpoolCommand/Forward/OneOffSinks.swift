import Foundation
import Spool

/// One-off sinks: destinations a `spool forward` run reads for itself (`--console`, every sink
/// with `--once`) without holding entries back for anyone after it ends.
///
/// A sink's position lives in the spool, and a registered sink keeps every entry it has not
/// passed, so a one-off reader registered as an ordinary sink would keep entries pending
/// forever after its run. Instead, for one run:
///
/// - each one-off sink is registered under a reserved name, `spool-once:<host>:<pid>:<name>`,
///   starting from the oldest entry (a replay);
/// - a *hold* sink, `spool-once-hold:<host>:<pid>`, is registered at the same position and
///   never advances, so the one-off sinks' acknowledgements delete nothing: entries leave the
///   spool only when the durable sinks have them, as without the run;
/// - when the run ends (done, failed or stopped by a signal) the one-off sinks and then the hold
///   are removed: the spool is left as the run found it (plus what durable sinks delivered).
///
/// A run killed with SIGKILL cannot clean up; the next `spool forward` on the spool removes
/// the reserved sinks of processes on this host that no longer exist, and `spool sinks remove
/// NAME` removes them by hand.
enum OneOffSinks {
    static let prefix = "spool-once:"
    static let holdPrefix = "spool-once-hold:"

    /// The registered name of the one-off sink shown as `name`.
    static func registeredName(_ name: String) -> String {
        "\(prefix)\(Forward.hostName()):\(getpid()):\(name)"
    }

    /// The hold sink's name for this process.
    static var holdName: String { "\(holdPrefix)\(Forward.hostName()):\(getpid())" }

    /// The name to show for a registered sink: a one-off sink's own name, others as they are.
    static func displayName(_ registered: String) -> String {
        guard registered.hasPrefix(prefix) else { return registered }
        let parts = registered.dropFirst(prefix.count).split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        return parts.count == 3 ? String(parts[2]) : registered
    }

    /// Whether `name` is a reserved sink of a process on this host that no longer exists.
    static func isStale(_ name: String) -> Bool {
        let rest: Substring
        if name.hasPrefix(prefix) {
            rest = name.dropFirst(prefix.count)
        } else if name.hasPrefix(holdPrefix) {
            rest = name.dropFirst(holdPrefix.count)
        } else {
            return false
        }
        let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, String(parts[0]) == Forward.hostName(), let pid = Int32(parts[1]) else { return false }
        // Gone: no such process, or a zombie (a forwarder killed with SIGKILL and not yet reaped
        // by its parent, which `kill(pid, 0)` alone still finds).
        return ProcessProbe.state(of: pid) == .gone
    }

    /// Removes the reserved sinks a killed run left behind: one-off sinks first, then holds.
    static func removeStale(in store: SpoolStore) {
        guard let sinks = try? store.sinkNames() else { return }
        let stale = sinks.filter(isStale)
        for name in stale.sorted(by: { $0.hasPrefix(prefix) && !$1.hasPrefix(prefix) }) {
            if (try? store.removeSink(name)) == true {
                Diagnostics.warning("removed the one-off sink '\(name)' left by a run that no longer exists")
            }
        }
    }

    /// Removes this run's one-off sinks, then its hold.
    static func remove(_ names: [String], hold: String?, from store: SpoolStore) {
        for name in names { _ = try? store.removeSink(name) }
        if let hold { _ = try? store.removeSink(hold) }
    }
}
