import Foundation
import SpoolTestServer
import Testing
@testable import Spool
@testable import SpoolForwarding

/// OTLP payloads captured at a real HTTP server are parsed by the official protobuf definitions
/// (PyPI `opentelemetry-proto`, which `.ci/run` installs) through tools/check-otlp-json.py.
@Suite struct OTLPPayloadValidationTests {
    static let python: Bool = {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import opentelemetry.proto.collector.logs.v1.logs_service_pb2"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    @Test(.enabled(if: python, "needs python3 with opentelemetry-proto (pip install opentelemetry-proto); .ci/run installs it"))
    func capturedPayloadsParseWithTheOfficialDefinitions() async throws {
        let rig = try ForwardRig()
        try await TestHTTPServer.withServer(behaviour: .status(200, body: "{}")) { server in
            try rig.store.registerSink("otlp")
            try rig.store.append(contentsOf: [
                LogEntry(timestamp: 1_732_873_200_000_000_000, level: .error, topic: "billing", message: "payment declined",
                         context: ["trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7",
                                   "order": ["id": 8812, "items": [1, 2.5, "three", true, nil]]]),
                LogEntry(timestamp: 1_732_873_200_500_000_000, level: .notice, topic: "billing", message: "retrying"),
                LogEntry(timestamp: 1_732_873_201_000_000_000, level: .critical, topic: "db", message: "down",
                         context: ["ratio": .double(.nan)]),
            ])
            let sink = try OTLPSink(configuration: .init(url: server.url(), serviceName: "billing"))
            let scheduler = rig.scheduler(sink, name: "otlp")
            try await scheduler.run(until: .empty)
            try await rig.shutdown()
            let requests = server.requests
            #expect(requests.first?.path == "/v1/logs")
            var files: [String] = []
            for (index, request) in requests.enumerated() {
                let file = rig.directory.file("otlp-\(index).json")
                FileManager.default.createFile(atPath: file, contents: Data(request.body))
                files.append(file)
            }
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            check.arguments = ["python3", root.appendingPathComponent("tools/check-otlp-json.py").path] + files
            let output = Pipe()
            check.standardOutput = output
            check.standardError = output
            try check.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            check.waitUntilExit()
            #expect(check.terminationStatus == 0, "\(text)")
            #expect(text.contains("3 records, valid") || text.contains("records, valid"))
        }
    }
}
