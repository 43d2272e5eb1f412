import ArgumentParser
import Foundation
import Spool
import Synchronization

/// `spool tail`: the last entries of a spool, or what one sink still has to send; `--follow`
/// keeps printing new ones.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the last entries of a spool, or what is pending for one sink.",
        discussion: """
            Prints the last N entries (default 10), oldest first, in the console's format \
            (`2026-11-29T08:00:00.123Z WARNING billing: card declined {"order":42}`; colour on a \
            terminal unless NO_COLOR is set), or with --json one EntryJSON object per line, \
            with its spool id. --sink NAME shows the last N of the entries still pending for \
            that sink. --topic matches the topic and the topics below it; --level is a minimum.

            --follow keeps polling (every 250 ms) and prints new entries as they are committed, \
            until SIGINT or SIGTERM, or until standard output is closed (`| head`); each \
            exits 0. With --sink it follows what is appended for that sink.

            The spool is opened read-only: tail takes no lease, never creates the file, and \
            does not keep a forwarder from deleting what it has sent.

            Example:
              spool tail --spool app.spool -n 50 --level warning
              spool tail --spool app.spool --follow --json --topic billing | jq .message
            """
    )

    @OptionGroup var spoolPath: SpoolPathOption

    @Option(name: [.customShort("n"), .customLong("lines")], help: "How many entries to print first.")
    var count = 10

    @Flag(name: [.customShort("f"), .long], help: "Keep printing new entries until interrupted.")
    var follow = false

    @Flag(help: "Print EntryJSON lines (with the spool id) instead of the console format.")
    var json = false

    @Option(help: ArgumentHelp("Only this topic and the topics below it.", valueName: "prefix"))
    var topic: String?

    @Option(help: ArgumentHelp("Only entries at this level or above.", valueName: "min"))
    var level: LevelArgument?

    @Option(help: ArgumentHelp("Only what is pending for this sink.", valueName: "name"))
    var sink: String?

    func validate() throws {
        guard count >= 0 else { throw ValidationError("-n must be 0 or more.") }
    }

    /// Set by SIGINT and SIGTERM while following.
    static let stopRequested = Atomic<Bool>(false)
    /// How long `--follow` waits between looks at the spool.
    static let pollInterval: useconds_t = 250_000

    func run() throws {
        var output = Output()
        do {
            try tail(into: &output)
        } catch where output.isClosed {
            // The reader has gone (`| head`): that is how a follow ends too.
        }
    }

    private func tail(into output: inout Output) throws {
        let inspector = try SpoolInspector(path: try spoolPath.resolved())
        let colour = isatty(STDOUT_FILENO) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"]?.isEmpty ?? true)
        let formatter = ConsoleFormatter(format: json ? .json : .human(colour: colour), fileDescriptor: STDOUT_FILENO)
        var filter = EntryFilter(pendingFor: sink, topicPrefix: topic, minimumLevel: level?.level)
        // Everything up to here is looked at once; following starts after it (and after an
        // entry appended meanwhile that is among the last ones printed: no line twice).
        let (entries, followAfter) = try inspector.lastEntriesToFollow(count, matching: filter)
        var last = followAfter
        for entry in entries { try output.line(formatter.line(entry)) }
        try output.flush()
        guard follow else { return }
        // A parent may hand its blocked signal mask down (Foundation's Process does): unblock
        // the two that stop us, or a SIGTERM would wait forever.
        var stopping = sigset_t()
        sigemptyset(&stopping)
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in Tail.stopRequested.store(true, ordering: .relaxed) }
            sigaddset(&stopping, signalNumber)
        }
        pthread_sigmask(SIG_UNBLOCK, &stopping, nil)
        // New entries are shown whether or not a forwarder already sent them.
        filter.pendingFor = nil
        filter.addressedTo = sink
        while !Self.stopRequested.load(ordering: .relaxed) && !Output.readerHasGone {
            last = max(last, try inspector.forEachEntry(after: last, matching: filter) { entry in
                try output.line(formatter.line(entry))
            })
            try output.flush()
            usleep(Self.pollInterval)  // a poll interval; a signal cuts it short
        }
    }
}
