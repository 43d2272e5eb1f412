import Foundation
import Spool

/// Reads lines from a file descriptor into a spool: the one ingest path, shared by
/// `spool ingest` and `spool forward --stdin`.
///
/// Lines are committed with `append(contentsOf:)` in batches of whatever one `read(2)` returned
/// (at most ``batchSize`` per transaction): a slow producer gets each line committed as it
/// arrives, a fast one gets large transactions. Malformed lines are reported on stderr with
/// their number and skipped.
struct LineIngester: Sendable {
    /// Entries per `append(contentsOf:)`: large enough to amortise the commit, small enough
    /// that one transaction stays short.
    static let batchSize = 1000

    /// What a run read.
    struct Summary: Sendable {
        /// Lines read, blank and malformed ones included.
        var lines = 0
        /// Lines reported and skipped.
        var malformed = 0
    }

    let store: SpoolStore
    let parser: LineParser

    /// Reads `descriptor` to its end and commits every line.
    ///
    /// With `shouldStop`, the descriptor is polled before each read and reading ends as soon as
    /// `shouldStop` says so: every line read by then is committed, nothing is read and dropped
    /// (what the producer wrote after that stays unread). Without it, each read blocks.
    /// - Throws: ``SpoolError``: the store's, annotated with the input line, or `.io` when the
    ///   descriptor cannot be read.
    func run(descriptor: Int32, shouldStop: (@Sendable () -> Bool)? = nil) throws(SpoolError) -> Summary {
        var reader = LineReader(descriptor: descriptor)
        var batch: [LogEntry] = []
        batch.reserveCapacity(Self.batchSize)
        var summary = Summary()

        func commit() throws {
            try store.append(contentsOf: batch)
            batch.removeAll(keepingCapacity: true)
        }

        do {
            // One read's worth of lines per commit: never wait for more input before committing.
            while try Self.waitForInput(descriptor, shouldStop: shouldStop), try reader.readLines({ line in
                summary.lines += 1
                let number = summary.lines
                do {
                    guard let entry = try parser.entry(from: line, warn: { Diagnostics.warning("line \(number): \($0)") }) else { return }
                    batch.append(entry)
                    if batch.count >= Self.batchSize { try commit() }
                } catch let error as LineParser.Malformed {
                    summary.malformed += 1
                    Diagnostics.error("line \(number): \(error.reason); the line was skipped")
                }
            }) {
                try commit()
            }
            try commit()
        } catch let error as SpoolError {
            throw SpoolError(error.code, "\(error.message) (stopped at input line \(summary.lines))", sqliteCode: error.sqliteCode)
        } catch let error as LineReader.ReadFailure {
            throw SpoolError(.io, "\(error.message) (after input line \(summary.lines))")
        } catch {
            throw SpoolError(.io, "\(error) (after input line \(summary.lines))")
        }
        return summary
    }

    /// Waits until `descriptor` has input (or its end) to read; false once `shouldStop` says so.
    private static func waitForInput(_ descriptor: Int32, shouldStop: (@Sendable () -> Bool)?) throws -> Bool {
        guard let shouldStop else { return true }
        while true {
            if shouldStop() { return false }
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&request, 1, 100)
            if ready > 0 { return !shouldStop() }
            if ready < 0 && errno != EINTR {
                throw LineReader.ReadFailure(message: "cannot wait for standard input: \(String(cString: strerror(errno)))")
            }
        }
    }
}
