import Foundation
import Spool
import Synchronization

/// What the commands that append (`ingest`, `forward --stdin`) do with the store's reports: one
/// JSON line each on stderr, except that `spool.store.dropped` is written once per reason and
/// then at most every ``interval``, counting the drops since the line before. A full disk or a
/// small bound drops a few entries at every commit: a line per commit was a thousand warnings
/// for one ingest, and the command's closing line counts every drop anyway.
final class StoreReports: Sendable {
    /// At most one `spool.store.dropped` line per reason in this time.
    static let interval: Duration = .seconds(10)

    private struct Held {
        var writtenAt: ContinuousClock.Instant
        var count: Int64 = 0
    }

    private let held = Mutex<[String: Held]>([:])
    private let write: @Sendable (LogEntry) -> Void
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - write: Where a report goes (stderr's JSON line by default).
    ///   - now: The clock the interval is measured on (tests move it).
    init(write: @escaping @Sendable (LogEntry) -> Void = StandardError.writeJSONLine,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.write = write
        self.now = now
    }

    /// The store's `report`.
    @Sendable func report(_ entry: LogEntry) {
        guard entry.topic == "spool.store.dropped", case .string(let reason)? = entry.context?["reason"],
              case .int(let count)? = entry.context?["count"] else {
            write(entry)
            return
        }
        let now = self.now()
        let written = held.withLock { held -> Int64? in
            guard let last = held[reason] else {
                held[reason] = Held(writtenAt: now)
                return count
            }
            guard last.writtenAt.duration(to: now) >= Self.interval else {
                held[reason]?.count += count
                return nil
            }
            held[reason] = Held(writtenAt: now)
            return last.count + count
        }
        guard let written else { return }
        var entry = entry
        entry.context?["count"] = .int(written)
        if written != count {
            // The ids name the last drop's range only; the line counts more than that.
            entry.context?["first_id"] = nil
            entry.context?["last_id"] = nil
        }
        entry.message += written == count
            ? "; further drops for this reason are written at most every \(Self.interval.components.seconds) s, and the closing line counts them all"
            : " (\(written) since the last such line)"
        write(entry)
    }
}
