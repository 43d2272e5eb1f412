import Foundation
import Spool
import Synchronization

/// A status line redrawn in place on stderr while synchronous work runs (`compact`,
/// `check --repair`), only when stderr is a terminal: the work calls ``update(_:)``, a thread
/// of its own redraws four times a second, so the line moves even while SQLite is busy in one
/// long statement.
final class LiveLine: Sendable {
    private let text = Mutex("")
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let started = ContinuousClock.now
    let enabled: Bool

    /// Starts redrawing, when stderr is a terminal (else every call is a no-op).
    init(_ first: String, enabled: Bool = isatty(2) == 1) {
        self.enabled = enabled
        text.withLock { $0 = first }
        guard enabled else { return }
        Thread.detachNewThread { [self] in
            while !stopped.load(ordering: .acquiring) {
                draw()
                Thread.sleep(forTimeInterval: 0.25)
            }
            done.signal()
        }
    }

    /// What the line says now (the elapsed time is added).
    func update(_ line: String) {
        text.withLock { $0 = line }
    }

    /// Erases the line; the caller prints the result.
    func finish() {
        guard enabled, !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        done.wait()
        StandardError.write("\r\u{1B}[K")
    }

    private func draw() {
        let seconds = Double((ContinuousClock.now - started).components.seconds)
        StandardError.write("\r\u{1B}[K" + text.withLock { $0 } + " (\(Format.age(seconds: seconds)))")
    }
}
