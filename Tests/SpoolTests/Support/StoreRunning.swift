import Testing
@testable import Spool

extension SpoolStore {
    /// Starts ``SpoolStore/run()`` in a task and waits (bounded, yielding) until its threads
    /// are up: one, and the committer's in buffered mode.
    func startRunning() async throws -> Task<Void, any Error> {
        let task = Task { try await self.run() }
        let threads = isBuffered ? 2 : 1
        for _ in 0..<100_000 where !isRunning || backgroundThreads.load(ordering: .relaxed) < threads { await Task.yield() }
        try #require(isRunning && backgroundThreads.load(ordering: .relaxed) == threads)
        return task
    }
}
