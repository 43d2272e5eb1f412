import Foundation
import Synchronization
import SpoolCrashRig
import Testing
@testable import Spool

/// The real `spool` binary, run as a child process: what a user runs, with real pipes.
enum SpoolBinary {
    /// `spool`, built beside the test bundle (the test target depends on the executable).
    /// `SPOOL_BINARY` overrides it.
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["SPOOL_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CrashBinaries.path("spool"))
    }()

    /// What a finished run left.
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String

        /// The stderr lines, without the empty one after the last newline.
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    }

    /// Runs `spool arguments…` with `input` on stdin and waits, at most `timeout`, for it to exit.
    static func run(_ arguments: [String], input: Data = Data(), environment: [String: String] = [:],
                    timeout: Duration = .seconds(120)) throws -> Outcome {
        let running = try Running(arguments, environment: environment)
        running.write(input)
        return try running.finish(timeout: timeout)
    }

    /// Runs with `input` as text.
    static func run(_ arguments: [String], input: String, environment: [String: String] = [:]) throws -> Outcome {
        try run(arguments, input: Data(input.utf8), environment: environment)
    }

    /// A child `spool` whose stdin stays open until ``finish(timeout:)``.
    final class Running: Sendable {
        private let process: Process
        private let stdin: FileHandle
        private let exited = DispatchSemaphore(value: 0)
        private let stdout: Collector
        private let stderr: Collector

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            // A child that exits without reading its input must not kill the test runner.
            signal(SIGPIPE, SIG_IGN)
            let process = Process()
            process.executableURL = SpoolBinary.url
            process.arguments = arguments
            var variables = ProcessInfo.processInfo.environment
            variables["SPOOL_PATH"] = nil
            variables.merge(environment) { _, new in new }
            process.environment = variables
            let input = Pipe(), output = Pipe(), errors = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            let exited = self.exited
            process.terminationHandler = { _ in exited.signal() }
            try process.run()
            self.process = process
            stdin = input.fileHandleForWriting
            stdout = Collector(output.fileHandleForReading)
            stderr = Collector(errors.fileHandleForReading)
        }

        /// Writes to the child's stdin (ignoring a child that stopped reading).
        func write(_ data: Data) {
            guard !data.isEmpty else { return }
            try? stdin.write(contentsOf: data)
        }

        func write(_ text: String) { write(Data(text.utf8)) }

        var isRunning: Bool { process.isRunning }

        /// The child's stderr so far, while it runs.
        var stderrSoFar: String { String(decoding: stderr.soFar, as: UTF8.self) }

        /// Waits, on a thread of its own, until the child's stderr satisfies `condition` (or it
        /// ended, or `timeout` passed); returns the stderr read by then.
        func waitForStderr(timeout: Duration = .seconds(30), until condition: @escaping @Sendable (String) -> Bool) async throws -> String {
            let stderr = self.stderr
            return try await onOwnThread { stderr.wait(timeout: timeout, until: condition) }
        }

        /// The child's process id.
        var processIdentifier: Int32 { process.processIdentifier }

        /// Sends `signal` (SIGTERM, SIGKILL…) to the child.
        func send(_ signal: Int32) {
            kill(process.processIdentifier, signal)
        }

        /// Closes stdin and waits at most `timeout` for the exit; a child still running then is
        /// killed and the test fails.
        func finish(timeout: Duration = .seconds(120)) throws -> Outcome {
            try? stdin.close()
            let seconds = Double(timeout.components.seconds)
            if exited.wait(timeout: .now() + seconds) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                throw TimedOut(what: "spool \(process.arguments ?? []) did not exit within \(timeout)")
            }
            return Outcome(status: process.terminationStatus,
                           stdout: String(decoding: try stdout.result(), as: UTF8.self),
                           stderr: String(decoding: try stderr.result(), as: UTF8.self))
        }
    }

    /// Reads a pipe to its end on its own thread, so a chatty child never blocks on a full pipe.
    final class Collector: Sendable {
        private let data = Mutex<Data?>(nil)
        private let partial = Mutex(Data())
        private let done = DispatchSemaphore(value: 0)
        private let grew = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    partial.withLock { $0.append(chunk) }
                    grew.signal()
                }
                grew.signal()
                data.withLock { $0 = partial.withLock { $0 } }
                done.signal()
            }
        }

        /// What was read so far, while the child runs.
        var soFar: Data { partial.withLock { $0 } }

        /// Blocks (call it on a thread of its own) until what was read satisfies `condition`, or
        /// the pipe ended, or `timeout` passed; returns what was read then.
        func wait(timeout: Duration, until condition: (String) -> Bool) -> String {
            let deadline = DispatchTime.now() + Double(timeout.components.seconds)
            while true {
                let text = String(decoding: soFar, as: UTF8.self)
                if condition(text) || data.withLock({ $0 != nil }) { return text }
                if grew.wait(timeout: deadline) == .timedOut { return String(decoding: soFar, as: UTF8.self) }
            }
        }

        func result() throws -> Data {
            // The child has exited; its pipe ends at once unless a grandchild holds it.
            if done.wait(timeout: .now() + 30) == .timedOut { throw TimedOut(what: "the child's output did not end") }
            return data.withLock { $0 ?? Data() }
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var description: String { what }
    }
}

/// Decodes `--json` output: one object per line, snake_case keys.
enum CommandJSON {
    /// snake_case back to the Swift names, acronyms included (`integrity_ok` → `integrityOK`,
    /// `entry_ids` → `entryIDs`).
    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            let key = path.last!.stringValue
            let words = key.split(separator: "_").enumerated().map { index, word -> String in
                if index == 0 { return String(word) }
                switch word {
                case "id", "ok", "json", "url": return word.uppercased()
                case "ids": return "IDs"
                default: return word.prefix(1).uppercased() + word.dropFirst()
                }
            }
            return AnyKey(stringValue: words.joined())
        }
        return decoder
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ output: String) throws -> T {
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "one JSON object on one line: \(output)")
        return try decoder.decode(type, from: Data((lines.first ?? "").utf8))
    }

    static func decodeLines<T: Decodable>(_ type: T.Type, _ output: String) throws -> [T] {
        let decoder = self.decoder
        return try output.split(separator: "\n").map { try decoder.decode(type, from: Data($0.utf8)) }
    }
}

/// One row of `entries`, read straight from the file.
struct StoredRow: Equatable {
    var id: Int64
    var timestamp: Int64
    var level: String
    var topic: String
    var message: String
    var context: String?
}

/// Direct SQL on a spool file, bypassing the store: what a person with the `sqlite3` shell sees.
enum SpoolFileProbe {
    static func entries(_ path: String) throws -> [StoredRow] {
        let connection = try Connection(path: path, create: false, readOnly: true)
        let statement = try connection.prepare("SELECT id, ts_ns, level, topic, message, context FROM entries ORDER BY id")
        var rows: [StoredRow] = []
        while try statement.step() {
            rows.append(StoredRow(id: statement.int64(0), timestamp: statement.int64(1), level: statement.text(2) ?? "",
                                  topic: statement.text(3) ?? "", message: statement.text(4) ?? "", context: statement.text(5)))
        }
        return rows
    }

    static func userVersion(_ path: String) throws -> Int64? {
        try Connection(path: path, create: false, readOnly: true).scalarInt("PRAGMA user_version")
    }

    static func execute(_ path: String, _ sql: String) throws {
        try Connection(path: path, create: true).execute(sql)
    }

    /// A spool at schema version 1 holding one entry, as an old Spool left it.
    static func makeVersionOneSpool(_ path: String) throws {
        let connection = try Connection(path: path, create: true)
        try connection.execute("PRAGMA journal_mode = WAL")
        try Migrations.migrate(connection, to: 1)
        try connection.execute("INSERT INTO entries (ts_ns, level, topic, message, context) VALUES (1732873200000000000, 'info', 'old', 'from version 1', '{\"a\":1}')")
    }

    static func bytes(_ path: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
