import ArgumentParser
import Foundation
import Spool
import SpoolForwarding
import Synchronization

/// `spool bench receiver` (hidden): the ``Receiver``, counting sequence numbers, as a process of
/// its own, for `spool bench forward` / `drain` and `tools/compare-syslog-ng`. `GET /count`
/// answers `count distinct invalid`; SIGTERM or SIGINT prints the totals and the process's CPU
/// and exits 0.
struct BenchReceiver: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receiver",
        abstract: "Parse and count entries POSTed to 127.0.0.1 (Loki JSON or lines); GET /count; SIGTERM prints the totals.",
        shouldDisplay: false
    )

    @Option(help: "Port on 127.0.0.1 (0: any free port, printed on the first line).") var port = 0

    func run() async throws {
        let receiver = try await Receiver.start(port: port, ids: .sequenceNumber)
        // Unbuffered: the process waiting for this line reads a pipe or a file, not a terminal.
        FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(receiver.port)\n".utf8))
        // A flag set by the signal handler, polled: the simplest handler that is async-signal-safe.
        signal(SIGTERM) { _ in receiverStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in receiverStopRequested.store(true, ordering: .relaxed) }
        while !receiverStopRequested.load(ordering: .relaxed) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let cpu = ResourceUsage.now().cpuSeconds
        let tally = receiver.tally
        FileHandle.standardOutput.write(Data(String(format: "count %d distinct %d invalid %d requests %d cpu %.2f\n",
                                                    tally.entries, tally.distinct, tally.invalid, tally.requests, cpu).utf8))
        await receiver.stop()
    }
}

/// Set by SIGTERM or SIGINT.
private let receiverStopRequested = Atomic<Bool>(false)

/// `spool bench receiver` started as a child process, so that its parsing is not counted in
/// the forwarder's CPU and competes for the cores as a real receiver would.
final class ReceiverProcess: Sendable {
    let port: Int
    private let process: Process
    private let output: FileHandle
    private let client = Transport()

    /// What the receiver has seen.
    struct Counts: Sendable {
        var count: Int
        var distinct: Int
        var invalid: Int
    }

    init() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        process.arguments = ["bench", "receiver", "--port", "0"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        self.process = process
        output = pipe.fileHandleForReading
        // The first line names the port; bounded by the pipe closing.
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let data = output.availableData
            if data.isEmpty { break }
            line.append(contentsOf: data)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw BenchFailure(message: "the receiver did not start: \(text)")
        }
        self.port = port
    }

    func counts() async -> Counts? {
        let request = SinkRequest(method: "GET", url: "http://127.0.0.1:\(port)/count", body: [], allowsGzip: false)
        guard case .success(let response) = await client.send(request) else { return nil }
        let fields = String(decoding: response.body, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard fields.count == 3 else { return nil }
        return Counts(count: fields[0], distinct: fields[1], invalid: fields[2])
    }

    /// Polls (bounded by `timeout`) until `target` distinct entries arrived, or a body was invalid.
    func wait(forDistinct target: Int, timeout: Duration) async -> Counts? {
        let deadline = ContinuousClock.now + timeout
        var last: Counts?
        while ContinuousClock.now < deadline {
            last = await counts()
            if let last, last.distinct >= target || last.invalid > 0 { return last }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return last
    }

    /// Stops the receiver. - Returns: its last line (totals and CPU seconds).
    func stop() async -> String {
        try? await client.shutdown()
        process.terminate()
        process.waitUntilExit()
        let rest = String(decoding: output.readDataToEndOfFile(), as: UTF8.self)
        return rest.split(separator: "\n").last.map(String.init) ?? ""
    }
}
