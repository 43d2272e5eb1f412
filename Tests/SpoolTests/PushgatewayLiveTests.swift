import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// Executables the live tests need, looked up on PATH (Debian: `prometheus-pushgateway`, and
/// `promtool` from `prometheus`; `.ci/run` installs both, so CI always runs these tests).
enum ExternalTool {
    static func path(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let pushgateway = path("prometheus-pushgateway")
    static let promtool = path("promtool")

    /// Runs `tool` with `input` on stdin; returns the exit status and what it wrote.
    static func run(_ tool: String, _ arguments: [String], input: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// A real `prometheus-pushgateway` on a free loopback port, without persistence, stopped at the end.
final class LivePushgateway: Sendable {
    let port: Int
    let process: Process
    var url: String { "http://127.0.0.1:\(port)" }

    init(binary: String) throws {
        port = try Self.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // Debian's build defaults --persistence.file to /var/lib/prometheus/pushgateway.data:
        // empty keeps the metrics in memory only, so no test sees another's groups.
        process.arguments = ["--web.listen-address=127.0.0.1:\(port)", "--persistence.file="]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    /// Polls `/-/ready` until it answers 200, for at most `timeout` (a bounded wait: generous,
    /// because the gateway starts while the whole suite starts, on two cores).
    func waitUntilReady(_ transport: Transport, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if case .success(let response) = await transport.send(SinkRequest(method: "GET", url: url + "/-/ready", body: [])),
               response.status == 200 { return }
            try #require(process.isRunning, "prometheus-pushgateway exited early (status \(process.terminationStatus))")
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("prometheus-pushgateway was not ready within \(timeout)")
        throw CancellationError()
    }

    /// The `spool_log_entries_total` sample lines of `GET /metrics`, in the gateway's order.
    func samples(_ transport: Transport) async throws -> [String] {
        let response = try await transport.send(SinkRequest(method: "GET", url: url + "/metrics", body: [])).get()
        try #require(response.status == 200)
        return response.excerpt(limit: SinkResponse.maximumBodyBytes).split(separator: "\n")
            .filter { $0.hasPrefix("spool_log_entries_total{") }.map(String.init)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { stop() } }

    private static func freePort() throws -> Int {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        try #require(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite(.serialized) struct PushgatewayLiveTests {
    let directory = TemporaryDirectory()

    // Skipped, with this reason shown, where the Debian package is not installed; CI installs it.
    @Test("A real Pushgateway shows the pushed counters, and a final push carries the last counts",
          .enabled(if: ExternalTool.pushgateway != nil, "prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)"))
    func aRealPushgatewayShowsThePushedCounters() async throws {
        let gateway = try LivePushgateway(binary: try #require(ExternalTool.pushgateway))
        defer { gateway.stop() }
        // A job with a slash travels as job@base64; the pusher's interval and spacing are an
        // hour, so only the first push (at start) and the final push (at stop) can happen.
        let rig = try PushgatewayRig(directory: directory, gateway: gateway.url, job: "spool/test", instance: "host 7")
        // Shut down however the test ends: an HTTP client left running stops the whole test process.
        do {
            try await checkThePushes(gateway, rig)
        } catch {
            try? await rig.transport.shutdown()
            throw error
        }
        try await rig.transport.shutdown()
    }

    private func checkThePushes(_ gateway: LivePushgateway, _ rig: PushgatewayRig) async throws {
        try await gateway.waitUntilReady(rig.transport)
        try rig.store.append(contentsOf: [
            LogEntry(timestamp: 1, level: .error, topic: #"pay "q" \ x"# + "\ny", message: "m"),
            LogEntry(timestamp: 2, level: .error, topic: #"pay "q" \ x"# + "\ny", message: "m"),
            LogEntry(timestamp: 3, level: .info, topic: "app", message: "m"),
        ])
        try await rig.scheduler.run(until: .empty)

        let pusher = rig.pusher()
        let running = Task { try await pusher.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while pusher.pushCount == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let first = try await gateway.samples(rig.transport)
        #expect(first == [
            #"spool_log_entries_total{instance="host 7",job="spool/test",level="error",topic="pay \"q\" \\ x\ny"} 2"#,
            #"spool_log_entries_total{instance="host 7",job="spool/test",level="info",topic="app"} 1"#,
        ], "pushes: \(pusher.pushCount), reports: \(rig.reports.all.map(\.message))")

        try rig.store.append(contentsOf: [LogEntry(timestamp: 4, level: .info, topic: "app", message: "m")])
        try await rig.scheduler.run(until: .empty)
        running.cancel()
        try await running.value
        #expect(pusher.pushCount == 2, "the start push and the final push")
        #expect(try await gateway.samples(rig.transport).last == #"spool_log_entries_total{instance="host 7",job="spool/test",level="info",topic="app"} 2"#)
        #expect(rig.reports.all.isEmpty)
    }

    // Skipped, with this reason shown, where promtool is not installed; CI installs it.
    @Test("promtool accepts a pushed body, and rejects a broken one",
          .enabled(if: ExternalTool.promtool != nil, "promtool is not installed (apt-get install prometheus)"))
    func promtoolAcceptsTheEncodedBody() throws {
        let promtool = try #require(ExternalTool.promtool)
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        let store = try SpoolStore(path: directory.file("promtool.spool"), configuration: configuration)
        let sink = try PushgatewaySink(configuration: .init(url: "http://127.0.0.1:9091"), store: store)
        let body = sink.body([
            EntryCounter(level: .error, topic: #"disk "full" at C:\q"# + "\nsecond line", value: 1),
            EntryCounter(level: .info, topic: "billing.payment", value: 10234),
            EntryCounter(level: .info, topic: "", value: 2),
        ])
        let accepted = try ExternalTool.run(promtool, ["check", "metrics"], input: body)
        #expect(accepted.status == 0, "promtool: \(accepted.output)")
        // The check can fail: the same body with a value that is not a number is refused.
        let broken = try ExternalTool.run(promtool, ["check", "metrics"], input: body.replacingOccurrences(of: "} 2\n", with: "} 2 x\n"))
        #expect(broken.status != 0)
    }
}
