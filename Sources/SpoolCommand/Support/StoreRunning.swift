import Spool

extension SpoolStore {
    /// Runs `body` while the store's background work runs (``SpoolStore/run()``: checkpoints off
    /// the append path, buffered mode's committer and timer), then stops it, which commits what
    /// buffered mode still holds. For commands that append or forward outside a `ServiceGroup`.
    /// Should that last commit fail, the entries stay queued: the command's `close()` tries
    /// again and throws what it meets.
    /// - Throws: what `body` threw.
    func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            let result = try await body()
            group.cancelAll()
            _ = try? await group.next()
            return result
        }
    }
}
