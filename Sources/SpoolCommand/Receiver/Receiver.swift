import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The one HTTP receiver of `spool`: an HTTP/1.1 server on 127.0.0.1 that reads every body it
/// is sent as a destination would, counts its entries, and marks each entry's id, so that it can
/// say how many distinct entries arrived and how many came twice. `spool demo` runs it as its
/// Loki (``EntryID/demoID``); `spool bench receiver` runs it as a process of its own for
/// `spool bench forward` / `drain`, `tools/compare-syslog-ng` and `tools/rss-forward`
/// (``EntryID/sequenceNumber``).
///
/// A gzip body (`Content-Encoding: gzip`) is inflated once it has arrived (``Inflater``). A body sent
/// to `/loki/api/v1/push` must be a whole Loki push; any other body is lines, each checked
/// against JSON's grammar when it starts with `{` (NDJSON, syslog-ng's `format-json`)
/// (``ReceivedBody``). A body is answered 204 when it reads whole and holds at least one entry,
/// 400 otherwise, and 503 while ``failing`` is set (not read). `GET /count` answers
/// `entries distinct invalid`; `GET /reset` zeroes every count (between the runs of
/// `tools/compare-syslog-ng`).
final class Receiver: Sendable {
    /// What arrived.
    struct Tally: Sendable {
        /// Bodies answered 204.
        var accepted = 0
        /// Bodies answered 503 while ``Receiver/failing`` was set.
        var refused = 0
        /// Bodies answered 400: not valid gzip, JSON or a Loki push, cut short, too large, or
        /// without an entry.
        var invalid = 0
        /// Entries in accepted bodies, resends counted again.
        var entries = 0
        /// The ids seen.
        var ids = IDSet()
        /// Entries in accepted bodies whose line held no id.
        var unrecognised = 0

        /// Distinct ids seen.
        var distinct: Int { ids.count }
        /// Entries that arrived again after their first copy (at-least-once delivery resends).
        var duplicates: Int { entries - unrecognised - distinct }
        /// Bodies answered, whatever the answer.
        var requests: Int { accepted + refused + invalid }
    }

    /// The port it listens on.
    let port: Int
    private let books: Books
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(port: Int, books: Books, group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.port = port
        self.books = books
        self.group = group
        self.channel = channel
    }

    /// Starts listening on 127.0.0.1:`port` (0: a free port) with one event-loop thread.
    /// - Parameters:
    ///   - port: The port; 0 lets the system pick one (``port`` says which).
    ///   - ids: What in a line identifies an entry.
    static func start(port: Int = 0, ids: EntryID) async throws -> Receiver {
        let books = Books(ids: ids)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(ReceiverConnection(books: books))
                    }
                }
                .bind(host: "127.0.0.1", port: port)
                .get()
            return Receiver(port: channel.localAddress?.port ?? port, books: books, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// `http://127.0.0.1:<port>`.
    var url: String { "http://127.0.0.1:\(port)" }

    /// While true, every body is answered 503 Service Unavailable, unread.
    var failing: Bool {
        get { books.failing.load(ordering: .acquiring) }
        set { books.failing.store(newValue, ordering: .releasing) }
    }

    /// A copy of what arrived so far.
    var tally: Tally { books.tally.withLock { $0 } }

    /// Closes the listener and its connections, and ends the event-loop thread.
    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// What the connections share: the counts, the outage switch, and what an id is.
    final class Books: Sendable {
        let ids: EntryID
        let tally = Mutex(Tally())
        let failing = Atomic<Bool>(false)

        init(ids: EntryID) { self.ids = ids }

        /// `GET /count`'s answer.
        var countLine: String {
            tally.withLock { "\($0.entries) \($0.distinct) \($0.invalid)\n" }
        }

        func reset() { tally.withLock { $0 = Tally() } }

        /// Counts one body that was read (or could not be).
        func record(_ body: ReceivedBody) {
            tally.withLock { tally in
                guard body.valid else { tally.invalid += 1; return }
                tally.accepted += 1
                tally.entries += body.entries
                tally.unrecognised += body.entries - body.ids.count
                for id in body.ids { tally.ids.insert(id) }
            }
        }

        func refuse() { tally.withLock { $0.refused += 1 } }
    }
}
