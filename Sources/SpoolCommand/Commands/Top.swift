import ArgumentParser
import Foundation
import Spool
import Synchronization

/// `spool top`: a live view of each sink's pending entries, rate, lag, forwarder, dead
/// letters and drops. It only reads.
struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Watch a spool live: per sink pending, rate, lag, forwarder, dead letters, drops.",
        discussion: """
            Refreshes every --interval seconds (default 1) until q or Ctrl-C, then restores \
            the terminal. When stdout is not a terminal, or with --once, it prints one \
            snapshot and exits. Rate is entries passed (delivered, dead-lettered or dropped \
            by the destination) per second over the last interval; lag is the age of the \
            oldest pending entry's event time. The breaker and pause state live in the \
            forwarder's memory, not in the spool: top shows who holds each sink's lease \
            (a running forwarder); the forwarder's log and /metrics have the rest. \
            NO_COLOR turns colour off.

            top opens the spool read-only, takes no lease and writes nothing; each refresh is \
            a few short reads, so appends and forwarding never wait for it.

            Example:
              spool top --spool app.spool --once
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Option(help: "Seconds between refreshes.")
    var interval: Double = 1

    @Flag(help: "Print one snapshot and exit (also when stdout is not a terminal).")
    var once = false

    func validate() throws {
        guard interval >= 0.1, interval <= 3600 else { throw ValidationError("--interval must be between 0.1 and 3600 seconds") }
    }

    func run() throws {
        let path = try spoolPath.resolved()
        let watcher = try SpoolWatcher(path: path)
        let clock = SystemClock()
        let live = !once && isatty(1) != 0
        var style = TopView.Style(colour: live && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true)
        guard live else {
            style.colour = false
            print(TopView.render(watcher: try watcher.snapshot(), previous: nil, path: path, now: clock.now.nanoseconds, interval: interval, style: style, live: false))
            return
        }
        TopSignals.install()
        let keyboard = isatty(0) != 0 ? RawTerminal(descriptor: 0) : nil
        var screen = "\u{1B}[?1049h\u{1B}[?25l"  // the alternate screen, no cursor
        _ = StandardError.writeAll(&screen, to: 1)
        defer {
            // Every way out (q, Ctrl-C, a signal, an error) leaves the terminal as it was.
            var restore = "\u{1B}[?25h\u{1B}[?1049l"
            _ = StandardError.writeAll(&restore, to: 1)
            keyboard?.restore()
        }
        var previous: (snapshot: SpoolWatcher.Snapshot, at: Int64)?
        while !TopSignals.stopped {
            let now = clock.now.nanoseconds
            let snapshot = try watcher.snapshot()
            var frame = "\u{1B}[H\u{1B}[2J" + TopView.render(watcher: snapshot, previous: previous, path: path, now: now, interval: interval, style: style, live: true)
                .replacingOccurrences(of: "\n", with: "\r\n")
            _ = StandardError.writeAll(&frame, to: 1)
            previous = (snapshot, now)
            if Self.waitForQuit(keyboard: keyboard, seconds: interval) { return }
        }
    }

    /// Waits up to `seconds` for q, Q, Ctrl-C or Ctrl-D (true) or a stopping signal (true).
    private static func waitForQuit(keyboard: RawTerminal?, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !TopSignals.stopped {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var poller = pollfd(fd: keyboard == nil ? -1 : 0, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(left, 1) * 1000) + 1)
            guard ready > 0, poller.revents & Int16(POLLIN) != 0 else {
                if ready > 0 { return true }  // stdin closed or in error: nothing more to read
                continue
            }
            var bytes = [UInt8](repeating: 0, count: 64)
            let count = read(0, &bytes, bytes.count)
            if count <= 0 { return true }
            if bytes[..<count].contains(where: { $0 == UInt8(ascii: "q") || $0 == UInt8(ascii: "Q") || $0 == 3 || $0 == 4 }) {
                return true
            }
        }
        return true
    }
}

/// The text of one refresh.
enum TopView {
    struct Style {
        var colour: Bool
        func bold(_ text: String) -> String { colour ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
        func red(_ text: String) -> String { colour ? "\u{1B}[31m\(text)\u{1B}[0m" : text }
    }

    static func render(
        watcher snapshot: SpoolWatcher.Snapshot, previous: (snapshot: SpoolWatcher.Snapshot, at: Int64)?,
        path: String, now: Int64, interval: Double, style: Style, live: Bool
    ) -> String {
        var lines: [String] = []
        let every = interval == interval.rounded() ? "\(Int(interval)) s" : "\(interval) s"
        lines.append(style.bold("spool top") + "  \(path)  \(UnixTime.iso8601(nanoseconds: now))" + (live ? "  (every \(every); q to quit)" : ""))
        var ids = "entries: none"
        if let oldest = snapshot.oldestID, let newest = snapshot.newestID { ids = "entries: ids \(oldest) to \(newest)" }
        lines.append("\(ids)   dead letters: \(snapshot.deadLetters)   dropped: \(snapshot.droppedEntries)   WAL: \(Format.bytes(snapshot.walBytes))")
        lines.append("")
        guard !snapshot.sinks.isEmpty else {
            lines.append("no sink registered (entries stay until a sink is registered and delivers them)")
            return lines.joined(separator: "\n")
        }
        var rows = [["SINK", "PENDING", "RATE/S", "LAG", "DELIVERED", "DEAD", "DROPPED", "FORWARDER", "BOOKS"]]
        for sink in snapshot.sinks {
            var rate = "-"
            if let previous, let before = previous.snapshot.sinks.first(where: { $0.name == sink.name }), now > previous.at {
                let passed = (sink.books.map { $0.delivered + $0.deadLettered + $0.dropped } ?? (sink.delivered + sink.deadLettered))
                    - (before.books.map { $0.delivered + $0.deadLettered + $0.dropped } ?? (before.delivered + before.deadLettered))
                rate = String(format: "%.1f", Double(max(0, passed)) / (Double(now - previous.at) / 1e9))
            }
            let lag = sink.oldestPendingSince.map { Format.age(seconds: UnixTime.seconds(nanoseconds: now &- $0)) } ?? "-"
            var forwarder = "none"
            if let owner = sink.leaseOwner, let expires = sink.leaseExpiresNanoseconds, expires > now {
                forwarder = owner.count > 40 ? String(owner.prefix(39)) + "…" : owner
            }
            var books = "-"
            if let b = sink.books { books = b.balances ? "ok" : style.red("DO NOT BALANCE") }
            rows.append([sink.name, "\(sink.pending)", rate, lag, "\(sink.books?.delivered ?? sink.delivered)",
                         "\(sink.books?.deadLettered ?? sink.deadLettered)", sink.books.map { "\($0.dropped)" } ?? "-", forwarder, books])
        }
        lines.append(Format.table(rows))
        lines.append("")
        lines.append("breaker and pause state live in the forwarder, not the spool: see its log or /metrics")
        return lines.joined(separator: "\n")
    }
}

/// SIGINT, SIGTERM and SIGHUP end `spool top` cleanly (the terminal restored) instead of
/// killing it in raw mode.
enum TopSignals {
    private static let flag = Atomic<Bool>(false)
    static var stopped: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            #if os(Linux)
            action.__sigaction_handler.sa_handler = { _ in TopSignals.flag.store(true, ordering: .relaxed) }
            #else
            action.__sigaction_u.__sa_handler = { _ in TopSignals.flag.store(true, ordering: .relaxed) }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0  // no SA_RESTART: poll returns at once
            sigaction(signal, &action, nil)
        }
    }
}

/// The keyboard in raw mode (no line buffering, no echo, Ctrl-C read as a byte) until
/// ``restore()``.
final class RawTerminal {
    private let descriptor: Int32
    private var saved = termios()
    private var active = false

    init?(descriptor: Int32) {
        self.descriptor = descriptor
        guard tcgetattr(descriptor, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(descriptor, TCSAFLUSH, &raw) == 0 else { return nil }
        active = true
    }

    func restore() {
        guard active else { return }
        active = false
        _ = tcsetattr(descriptor, TCSAFLUSH, &saved)
    }

    deinit { restore() }
}
