import Foundation
import Spool

/// Standard output for commands that stream lines (`tail`, `export`): buffered, written with
/// `write(2)`, and a reader that went away (`spool tail -f | head`) ends the command quietly
/// with exit 0 instead of killing it with SIGPIPE.
struct Output {
    /// Set when a write found stdout's reader gone (EPIPE): the command stops and exits 0.
    private(set) var isClosed = false

    private var buffer = ""
    /// Bytes buffered before a write; `flush()` writes the rest.
    private let limit = 64 * 1024

    init() {
        // A closed pipe must be an EPIPE error we can act on, not a signal that kills us.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Adds one line (a newline is appended), writing when the buffer is full.
    mutating func line(_ text: String) throws(SpoolError) {
        buffer += text
        buffer += "\n"
        if buffer.utf8.count >= limit { try flush() }
    }

    /// Writes everything buffered.
    /// - Throws: `SpoolError` `.io`; when the reader has gone, ``isClosed`` is set too.
    mutating func flush() throws(SpoolError) {
        guard !buffer.isEmpty else { return }
        let failure: Int32? = StandardError.writeAll(&buffer, to: STDOUT_FILENO)
        buffer.removeAll(keepingCapacity: true)
        if let failure {
            if failure == EPIPE { isClosed = true }
            throw SpoolError(.io, "cannot write to standard output: \(String(cString: strerror(failure)))")
        }
    }

    /// Whether stdout is a pipe or socket whose reader has gone, found without writing (so an
    /// idle `tail --follow` notices too).
    static var readerHasGone: Bool {
        var descriptor = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return false }
        return descriptor.revents & Int16(POLLERR | POLLHUP) != 0
    }
}
