import Foundation

/// Runs `body(thread)` on `count` threads of their own, at once; returns when all finished.
/// For appenders that block (a durable `append` returns after its commit): on tasks of the
/// cooperative pool they would hold its few threads, and every other test running meanwhile
/// would wait for them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) async {
    let group = DispatchGroup()
    for thread in 0..<count {
        group.enter()
        Thread.detachNewThread {
            body(thread)
            group.leave()
        }
    }
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        group.notify(queue: .global()) { done.resume() }
    }
}

/// Runs `body` on a thread of its own and returns its result: blocking work (appends that wait
/// for commits, waits for child processes) stays off the cooperative pool.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
