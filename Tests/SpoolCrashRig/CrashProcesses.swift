import Foundation
import Synchronization

/// Where SwiftPM put the executables (`spool`, `SpoolTestChild`): beside the running binary, the
/// test bundle or SpoolSoak. The test target and the soak both depend on them, so they are built.
public enum CrashBinaries: Sendable {
    /// The directory of the running binary (of the bundle, for tests).
    public static let directory: String = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: executable)
        // macOS runs tests from Foo.xctest/Contents/MacOS/Foo; Linux from Foo.xctest itself.
        while url.pathExtension != "xctest" && url.pathComponents.count > 1 { url.deleteLastPathComponent() }
        if url.pathExtension != "xctest" { url = URL(fileURLWithPath: executable) }
        return url.deletingLastPathComponent().path
    }()

    /// The executable `name` in that directory.
    public static func path(_ name: String) -> String { directory + "/" + name }
}

/// A child process of a crash run: started, killed with SIGKILL, reaped.
public final class CrashProcess: Sendable {
    private let process: Process
    private let exited = DispatchSemaphore(value: 0)
    private let lines: LineReader?

    /// Starts `executable arguments…`; `SPOOL_CRASH_AT` names a crash point (debug builds).
    init(_ executable: String, _ arguments: [String], crashAt: String?, readsLines: Bool, stderrPath: String?) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SPOOL_CRASH_AT"] = crashAt
        environment["SPOOL_PATH"] = nil
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let output = readsLines ? Pipe() : nil
        if let output { process.standardOutput = output } else { process.standardOutput = FileHandle.nullDevice }
        if let stderrPath {
            // Appended to: every forwarder of a soak writes to the same log.
            if !FileManager.default.fileExists(atPath: stderrPath) { _ = FileManager.default.createFile(atPath: stderrPath, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
            try handle.seekToEnd()
            process.standardError = handle
        } else {
            process.standardError = FileHandle.nullDevice
        }
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        self.process = process
        lines = output.map { LineReader($0.fileHandleForReading) }
    }

    /// The appending process: `SpoolTestChild append`, printing N after each returned append.
    public static func appender(spool: String, from start: Int, checkpointPages: Int, perSecond: Double? = nil,
                                crashAt: String? = nil, stderrPath: String? = nil) throws -> CrashProcess {
        var arguments = ["append", spool, String(start), String(checkpointPages)]
        if let perSecond { arguments.append(String(perSecond)) }
        return try CrashProcess(CrashBinaries.path("SpoolTestChild"), arguments, crashAt: crashAt, readsLines: true, stderrPath: stderrPath)
    }

    /// The forwarding process: the real `spool forward` to an NDJSON receiver, with short waits.
    public static func forwarder(spool: String, url: String, sink: String, batchSize: Int, maxInFlight: Int,
                                 untilEmpty: Bool, requestTimeoutMs: Int = 10_000, crashAt: String? = nil,
                                 stderrPath: String? = nil) throws -> CrashProcess {
        var arguments = ["forward", "--spool", spool, "--http", url, "--name", sink, "--batch-size", String(batchSize),
                         "--max-in-flight", String(maxInFlight), "--retry-base-ms", "1", "--max-batch-wait", "0",
                         "--poll-ms", "10", "--request-timeout-ms", String(requestTimeoutMs), "--lease-ms", "30000"]
        if untilEmpty { arguments.append("--until-empty") }
        return try CrashProcess(CrashBinaries.path("spool"), arguments, crashAt: crashAt, readsLines: false, stderrPath: stderrPath)
    }

    public var pid: Int32 { process.processIdentifier }

    /// The next number the appender printed; nil once its output ended (it died).
    public func readNumber() -> Int? {
        while let line = lines?.next() {
            if let number = Int(line) { return number }
        }
        return nil
    }

    /// SIGKILL (unless it already ended), then reap.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        _ = waitForExit(timeout: 30)
    }

    /// Waits at most `timeout` seconds; true if the process exited.
    public func waitForExit(timeout: Double) -> Bool {
        guard exited.wait(timeout: .now() + timeout) == .success else { return false }
        exited.signal()  // later callers see it too
        process.waitUntilExit()
        return true
    }

    /// Whether it ended by SIGKILL (its own crash point, the receiver or the driver).
    public var wasKilled: Bool { process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL }
    /// The exit status of a process that exited by itself.
    public var status: Int32 { process.terminationStatus }
}

/// Lines from a pipe, read on the caller's thread.
public final class LineReader: Sendable {
    private let handle: FileHandle
    private let buffer = Mutex(Data())

    public init(_ handle: FileHandle) { self.handle = handle }

    /// The next line, without its newline; nil at end of output.
    public func next() -> String? {
        buffer.withLock { buffer in
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    return line
                }
                let chunk = handle.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
            }
        }
    }
}
