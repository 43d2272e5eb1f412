import Foundation
import Spool
import SpoolForwarding
import Synchronization

/// What the demo shows while it runs: story lines on stdout, and the forwarder's state on
/// stderr, as a live line redrawn in place on a terminal, or a plain line once a second
/// otherwise (a CI log then shows the outage and the drain too).
final class DemoProgress: Sendable {
    let showsLive: Bool
    private let lastLine = Mutex("")
    private let output = Mutex(())

    init(showsLive: Bool) {
        self.showsLive = showsLive
    }

    /// A line of the story on stdout, with the live line cleared and redrawn around it.
    func say(_ text: String) {
        output.withLock { _ in
            if showsLive { StandardError.write("\r\u{1B}[K") }
            print(text)
            fflush(nil)
            if showsLive { StandardError.write(lastLine.withLock { $0 }) }
        }
    }

    /// Redraws until cancelled: four times a second live, once a second plain.
    func run(scheduler: SinkScheduler, store: SpoolStore, sink: String, receiver: Receiver, written: @Sendable () -> Int) async {
        var tick = 0
        while !Task.isCancelled {
            let line = Self.line(scheduler: scheduler, store: store, sink: sink, receiver: receiver, written: written())
            output.withLock { _ in
                lastLine.withLock { $0 = line }
                if showsLive {
                    StandardError.write("\r\u{1B}[K" + line)
                } else if tick % 4 == 0 {
                    StandardError.write(line + "\n")
                }
            }
            tick += 1
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Leaves the final state on its own line (live or plain).
    func finish(scheduler: SinkScheduler, store: SpoolStore, sink: String, receiver: Receiver, written: Int) {
        let line = Self.line(scheduler: scheduler, store: store, sink: sink, receiver: receiver, written: written)
        output.withLock { _ in StandardError.write((showsLive ? "\r\u{1B}[K" : "") + line + "\n") }
    }

    private static func line(scheduler: SinkScheduler, store: SpoolStore, sink: String, receiver: Receiver, written: Int) -> String {
        let pending = (try? store.stats().sinks.first { $0.name == sink }?.pending).flatMap { $0 }.map(String.init) ?? "?"
        let progress = scheduler.currentProgress
        let state = receiver.failing ? "503" : "up"
        return "written \(written) | pending \(pending) | sent \(progress.delivered) | retries \(progress.retries) | breaker \(progress.breaker.rawValue) | receiver \(state)"
    }
}
