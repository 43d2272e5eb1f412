import NIOCore
import NIOConcurrencyHelpers

/// A barrier that holds requests until a test opens it, so a test can have exactly N requests
/// in flight at the server without timing guesses.
///
/// ```swift
/// let gate = Gate()
/// server.behaviour = .held(by: gate, .ok())
/// try await server.waitUntil { $0.inFlightRequests == 5 }
/// gate.open()
/// ```
public final class Gate: Sendable {
    private struct State {
        var isOpen = false
        var waiting: [(any EventLoop, @Sendable () -> Void)] = []
    }
    private let state = NIOLockedValueBox(State())

    /// Creates a closed gate.
    public init() {}

    /// Whether the gate lets requests through now.
    public var isOpen: Bool { state.withLockedValue { $0.isOpen } }

    /// Opens the gate: held requests go on, each on its own connection's event loop, in the order
    /// they arrived; later requests pass at once.
    public func open() {
        let released = state.withLockedValue { state in
            state.isOpen = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for (loop, resume) in released { loop.execute(resume) }
    }

    /// Closes the gate again: requests that arrive from now on are held.
    public func close() {
        state.withLockedValue { $0.isOpen = false }
    }

    /// Runs `resume` on `loop` once the gate is open (at once if it is open now).
    func whenOpen(on loop: any EventLoop, _ resume: @escaping @Sendable () -> Void) {
        let runNow = state.withLockedValue { state in
            if state.isOpen { return true }
            state.waiting.append((loop, resume))
            return false
        }
        if runNow { loop.execute(resume) }
    }
}
