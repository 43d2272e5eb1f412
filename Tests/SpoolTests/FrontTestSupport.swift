import Foundation
import Spool
import SpoolTesting
import Synchronization

/// What the front's tests share: a logger over a recorder and a manual clock, and an error to throw.
struct FrontFixture {
    let clock = ManualClock()
    let recorder = RecordingHandler()
    let fallback = RecordingHandler()

    func configuration(sampling: Sampling = .keepAll, redaction: Redaction = Redaction()) -> SpoolLogger.Configuration {
        var configuration = SpoolLogger.Configuration()
        configuration.clock = clock
        configuration.fallback = fallback
        configuration.sampling = sampling
        configuration.redaction = redaction
        return configuration
    }

    func logger(
        topic: String = "app", minimumLevel: LogLevel = .trace, extra: [any LogEntryHandler] = [],
        sampling: Sampling = .keepAll, redaction: Redaction = Redaction()
    ) -> SpoolLogger {
        SpoolLogger(
            topic: topic, minimumLevel: minimumLevel, handlers: extra + [recorder],
            configuration: configuration(sampling: sampling, redaction: redaction))
    }
}

struct HandlerBroke: Error, CustomStringConvertible {
    var reason = "destination unreachable"
    var description: String { reason }
}

/// Counts how often an autoclosure was evaluated.
final class Evaluations: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }

    func message(_ text: String) -> String {
        count.add(1, ordering: .relaxed)
        return text
    }

    func context() -> [String: JSONValue] {
        count.add(1, ordering: .relaxed)
        return ["evaluated": true]
    }
}

/// A door async work waits at until the test opens it; no sleeping.
final class AsyncGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let resume = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(waiter)
                return false
            }
            if resume { waiter.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

