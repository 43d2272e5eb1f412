import Foundation
import SpoolTestServer
import SpoolTesting
import Synchronization
import Testing
@testable import Spool

/// `spool stats`' books and latency lines, and `spool top`, run as users run them: the real
/// binary, and for `top` a real terminal (tmux).
@Suite struct CommandBooksTopTests {
    let scratch = TemporaryDirectory()
    var spool: String { scratch.file("app.spool") }

    /// Five entries, three of them delivered to `loki` two seconds after their commit.
    func makeSpool() throws {
        let clock = ManualClock(start: UnixInstant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)))
        var configuration = SpoolStore.Configuration()
        configuration.clock = clock
        let store = try SpoolStore(path: spool, configuration: configuration)
        try store.registerSink("loki")
        try store.append(contentsOf: (1...5).map { entry($0) })
        clock.advance(by: .seconds(2))
        _ = try store.claim(sink: "loki", owner: "a", maxCount: 3)
        try store.acknowledge(sink: "loki", owner: "a", through: 3, delivered: 3)
        try store.releaseLease(sink: "loki", owner: "a")
        try store.close()
    }

    @Test func statsPrintsEachSinksBooksAndLatency() throws {
        try makeSpool()
        let outcome = try SpoolBinary.run(["stats", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("  loki: accepted 5 = delivered 3 + dead-lettered 0 + dropped 0 + pending 2 ✓"), "\(outcome.stdout)")
        #expect(outcome.stdout.contains("  loki: p50 ≤ 2.0 s, p99 ≤ 2.0 s, max 2.0 s (3 entries)"), "\(outcome.stdout)")

        let json = try SpoolBinary.run(["stats", "--spool", spool, "--json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let sink = try #require((object["sinks"] as? [[String: Any]])?.first)
        let books = try #require(sink["books"] as? [String: Any])
        #expect(books["accepted"] as? Int == 5 && books["delivered"] as? Int == 3 && books["dead_lettered"] as? Int == 0)
        #expect(books["dropped"] as? Int == 0 && books["pending"] as? Int == 2 && books["balances"] as? Bool == true)
        let latency = try #require(sink["latency"] as? [String: Any])
        #expect(latency["count"] as? Int == 3 && latency["p50_seconds"] as? Double == 2 && latency["max_seconds"] as? Double == 2)
    }

    @Test func statsSaysLoudlyAndExitsOneWhenTheBooksDoNotBalance() throws {
        try makeSpool()
        try SpoolFileProbe.execute(spool, "UPDATE sinks SET delivered = delivered + 1")
        let outcome = try SpoolBinary.run(["stats", "--spool", spool])
        #expect(outcome.status == 1)
        #expect(outcome.stdout.contains("loki: accepted 5 ≠ delivered 4 + dead-lettered 0 + dropped 0 + pending 2 ✗ DOES NOT BALANCE (off by -1)"), "\(outcome.stdout)")
        #expect(outcome.stderr.contains("THE BOOKS DO NOT BALANCE for 'loki'"))
        #expect(try SpoolBinary.run(["stats", "--spool", spool, "--json"]).status == 1)
    }

    @Test func topPrintsOneSnapshotWhenStdoutIsNotATerminal() throws {
        try makeSpool()
        let outcome = try SpoolBinary.run(["top", "--spool", spool])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let row = outcome.stdout.split(separator: "\n").first { $0.hasPrefix("loki ") }.map { $0.split(separator: " ") }
        // SINK PENDING RATE/S LAG DELIVERED DEAD DROPPED FORWARDER BOOKS
        #expect(row?[1] == "2" && row?[2] == "-" && row?.contains("ok") == true, "\(outcome.stdout)")
        #expect(!outcome.stdout.contains("\u{1B}["))
        #expect(!outcome.stdout.contains("q to quit"))
        // Read-only: nothing written (no lease taken, no WAL frames).
        #expect(try SpoolStore.stats(path: spool).sinks.first?.leaseOwner == nil)
    }

    // MARK: - A real terminal

    /// One tmux server of this test's own (its own socket), killed at the end.
    struct Tmux: Sendable {
        let socket: String

        /// Runs a tmux client and returns what it printed. Spawned and reaped here (the client
        /// that starts the server forks it off; Foundation's `Process` did not see that client
        /// exit), with its output in a file: the server keeps the client's descriptors.
        @discardableResult
        func run(_ arguments: [String]) throws -> String {
            let file = socket + ".out"
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let argv = ([Tmux.path, "-S", socket] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            var pid: pid_t = 0
            let spawned = posix_spawn(&pid, Tmux.path, &actions, nil, argv, environ)
            guard spawned == 0 else { throw SpoolBinary.TimedOut(what: "tmux could not be started: errno \(spawned)") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        }

        func pane(_ session: String) throws -> String { try run(["capture-pane", "-p", "-t", session]) }

        static let path = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/opt/homebrew/bin/tmux"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/tmux"
        static var installed: Bool { FileManager.default.isExecutableFile(atPath: path) }
    }

    /// Polls `condition` every 50 ms for at most `seconds`: a bounded wait for another process.
    static func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    @Test(.enabled(if: Tmux.installed, "needs tmux"), arguments: ["q", "C-c"])
    func topInATerminalShowsAForwarderAtWorkAndRestoresTheTerminalOnExit(key: String) async throws {
        try makeSpool()
        let tmux = Tmux(socket: scratch.file("tmux.sock"))
        let (spool, done) = (self.spool, scratch.file("done"))
        try await TestHTTPServer.withServer(behaviour: .ok()) { server in
            let url = server.url(path: "/ingest")
            // Everything below blocks (child processes, polling a terminal): on a thread of its
            // own, never on the cooperative pool.
            let result = try await onOwnThread { () throws -> (live: Bool, seen: String, exited: Bool, after: String, left: String, forwarder: Int32) in
                let forwarder = try SpoolBinary.Running([
                    "forward", "--spool", spool, "--http", url, "--name", "loki", "--max-batch-wait", "0", "--poll-ms", "10",
                ])
                // Its shutdown is not this test's subject (and a SIGTERM sent to it from here was
                // once not acted on for 30 s; noticed, not investigated): SIGKILL.
                defer { forwarder.send(SIGKILL); _ = try? forwarder.finish(timeout: .seconds(30)) }
                var serverPID: pid_t?
                defer {
                    _ = try? tmux.run(["kill-server"])
                    if let serverPID { kill(serverPID, SIGKILL) }  // gone already, normally
                }
                // An appender beside it, until the test has seen what it looks for.
                let stop = Atomic<Bool>(false)
                let appended = DispatchSemaphore(value: 0)
                Thread.detachNewThread {
                    defer { appended.signal() }
                    guard let store = try? SpoolStore(path: spool) else { return }
                    var number = 100
                    while !stop.load(ordering: .relaxed) && number < 200_000 {
                        try? store.append(contentsOf: (number..<(number + 20)).map { entry($0) })
                        number += 20
                        usleep(10_000)  // pacing, not synchronization
                    }
                    try? store.close()
                }
                defer { stop.store(true, ordering: .relaxed); appended.wait() }
                try tmux.run(["new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
                              "\(SpoolBinary.url.path) top --spool \(spool) --interval 0.2; echo \"status=$?\" > \(done); stty -a >> \(done); exec cat"])
                serverPID = pid_t(try tmux.run(["display-message", "-p", "#{pid}"]).trimmingCharacters(in: .whitespacesAndNewlines))
                // The view refreshes with the forwarder's lease shown, a rate measured, books ok.
                var seen = ""
                let started = ContinuousClock.now
                defer { print("spool top in tmux (\(key)): \(ContinuousClock.now - started) from start to exit") }
                let live = try Self.eventually(30) {
                    seen = try tmux.pane("top")
                    guard let row = seen.split(separator: "\n").first(where: { $0.hasPrefix("loki ") }) else { return false }
                    let columns = row.split(separator: " ")
                    return seen.contains("q to quit") && row.contains("pid \(forwarder.processIdentifier)")
                        && columns.count > 2 && columns[2] != "-" && columns.last == "ok"
                }
                print("spool top in tmux (\(key)): live after \(ContinuousClock.now - started)")
                try tmux.run(["send-keys", "-t", "top", key])
                let exited = Self.eventually(10) { (try? String(contentsOfFile: done, encoding: .utf8))?.contains("intr") == true }
                let after = (try? String(contentsOfFile: done, encoding: .utf8)) ?? ""
                return (live, seen, exited, after, try tmux.pane("top"), forwarder.processIdentifier)
            }
            // Checked here, in the test's own task (an expectation on another thread belongs to no test).
            #expect(result.live, "\(result.seen)")
            #expect(result.seen.contains("pid \(result.forwarder)"))
            #expect(result.seen.contains("SINK") && result.seen.contains("PENDING") && result.seen.contains("RATE/S") && result.seen.contains("LAG"))
            #expect(!result.seen.contains("\u{1B}"))
            #expect(result.exited)
            #expect(result.after.hasPrefix("status=0"), "\(result.after)")
            // Canonical mode, echo and signals are back on; the view left the screen with it.
            let flags = result.after.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" })
            #expect(flags.contains("icanon") && flags.contains("echo") && flags.contains("isig"), "\(result.after)")
            #expect(!result.left.contains("q to quit"))
        }
    }
}
