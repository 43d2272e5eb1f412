import Foundation
import Spool

/// Replays spooled entries to a terminal or a pipe, in the console formats of the logging front
/// (the same lines ``ConsoleHandler`` writes): `spool forward --console`.
///
/// A ``LocalSink``: the scheduler hands it batches and it writes them with one `write(2)` per
/// batch, so a batch's lines stay together. A write that fails (a closed pipe) pauses the sink
/// and keeps every entry: nothing is acknowledged that was not written.
///
/// ```swift
/// let console = ConsoleSink(configuration: .init(format: .human(colour: true), stream: .standardOutput))
/// let scheduler = SinkScheduler(store: spool, sink: console, transport: transport,
///                               configuration: .init(name: "console"), owner: "replay")
/// try await scheduler.run(until: .empty)
/// ```
package struct ConsoleSink: LocalSink {
    /// Where lines go.
    package enum Stream: Sendable, Hashable {
        /// File descriptor 1.
        case standardOutput
        /// File descriptor 2.
        case standardError
        /// Any open file descriptor (for tests and redirections).
        case fileDescriptor(Int32)

        var descriptor: Int32 {
            switch self {
            case .standardOutput: 1
            case .standardError: 2
            case .fileDescriptor(let descriptor): descriptor
            }
        }
    }

    /// The line format and the stream, with documented defaults.
    package struct Configuration: Sendable, Hashable {
        /// The line format. Default ``ConsoleHandler/Format/automatic``: human with colour on a
        /// terminal (`NO_COLOR` honoured), one JSON line per entry (with its spool id) otherwise.
        package var format: ConsoleHandler.Format
        /// Default ``Stream/standardOutput``: a replay is the program's output.
        package var stream: Stream

        /// Creates a configuration; see each property for its default.
        package init(format: ConsoleHandler.Format = .automatic, stream: Stream = .standardOutput) {
            self.format = format
            self.stream = stream
        }
    }

    /// The configuration the sink was created with (its format possibly ``ConsoleHandler/Format/automatic``;
    /// the resolved one is decided at init).
    package let configuration: Configuration
    let formatter: ConsoleFormatter

    /// Creates the sink; an automatic format is resolved here, once.
    package init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        formatter = ConsoleFormatter(format: configuration.format, fileDescriptor: configuration.stream.descriptor)
    }

    /// `console`.
    package var kind: String { "console" }

    /// The batch's lines, in id order, each ending in `\n`.
    func text(_ entries: ArraySlice<StoredEntry>) -> String {
        var text = ""
        for entry in entries {
            text += formatter.line(entry)
            text += "\n"
        }
        return text
    }

    /// Writes the batch; a failed write is ``Verdict/misconfigured(reason:)``: retrying a closed
    /// pipe cannot succeed, and pausing keeps every entry in the spool.
    package func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict {
        var text = text(entries)
        do {
            try formatter.write(&text)
            return .delivered
        } catch {
            return .misconfigured(reason: error.message)
        }
    }
}
