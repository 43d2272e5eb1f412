import ArgumentParser
import Foundation
import Synchronization

/// `spool bench receiver` (hidden): the counting receiver as a process of its own, for
/// `tools/compare-syslog-ng`. `GET /count` answers the running total; SIGTERM or SIGINT prints
/// it and exits 0.
struct BenchReceiver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receiver",
        abstract: "Count entries POSTed to 127.0.0.1 (Loki JSON or lines); GET /count; SIGTERM prints the count.",
        shouldDisplay: false
    )

    @Option(help: "Port on 127.0.0.1 (0: any free port, printed on the first line).") var port = 0

    func run() async throws {
        let receiver = try CountingReceiver(port: port)
        // Unbuffered: the script waiting for this line reads a file, not a terminal.
        FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(receiver.port)\n".utf8))
        // A flag set by the signal handler, polled: the simplest handler that is async-signal-safe.
        signal(SIGTERM) { _ in receiverStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in receiverStopRequested.store(true, ordering: .relaxed) }
        while !receiverStopRequested.load(ordering: .relaxed) {
            try await Task.sleep(for: .milliseconds(50))
        }
        FileHandle.standardOutput.write(Data("count \(receiver.count) requests \(receiver.requests)\n".utf8))
        receiver.shutdown()
    }
}

/// Set by SIGTERM or SIGINT.
private let receiverStopRequested = Atomic<Bool>(false)
