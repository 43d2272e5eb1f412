import Dispatch
import Foundation
import Synchronization

// Group commit.
//
// Every `append` (and `flush`) takes a ticket and leaves its rows in `lane.pending`. If no
// commit is under way, the caller becomes the leader: it takes every pending row, commits them
// in one transaction, settles every ticket issued up to then, and wakes their callers all at
// once. Callers that arrive while a commit is under way park on their own semaphore; when the
// round ends, the first still-unsettled one is woken as the next leader. Nobody waits on the
// writer's lock just to learn that someone else already committed its rows, which on two cores
// turned eight waiters into a convoy of sequential wake-ups.
//
// In buffered mode `append` leaves its rows and returns; the background writer (or `flush`, or
// an append past the high-water mark) leads the next round.

/// What callers share: the waiting rows, the tickets, the parked callers.
struct Lane: Sendable {
    var pending: [PreparedRow] = []
    var issued: UInt64 = 0
    var settled: UInt64 = 0
    var leaderActive = false
    /// Commit rounds and the rows they carried: their ratio is the group-commit factor.
    var rounds: UInt64 = 0
    var roundRows: UInt64 = 0
    var waiters: [Waiter] = []
    var closed = false
}

private enum SubmitRole {
    case returnNow
    case wakeCommitter
    case lead(UInt64)
    case wait(Waiter)
}

/// A parked caller. Its `failure` and `lead` are written under the lane's lock before its
/// semaphore is signalled, and read after the wait, which orders the two.
final class Waiter: @unchecked Sendable {
    let ticket: UInt64
    let semaphore = DispatchSemaphore(value: 0)
    var failure: SpoolError?
    var lead = false

    init(ticket: UInt64) { self.ticket = ticket }
}

extension SpoolStore {
    /// Average rows per commit so far: how much concurrent appenders share commits.
    public var rowsPerCommit: Double {
        lane.withLock { $0.rounds == 0 ? 0 : Double($0.roundRows) / Double($0.rounds) }
    }

    var isBuffered: Bool {
        if case .buffered = configuration.durability { return true }
        return false
    }

    /// Leaves `rows` for the next commit; with `waitForCommit`, returns once they are committed.
    func submit(rows: some Collection<PreparedRow> & Sendable, waitForCommit: Bool) throws(SpoolError) {
        let role = try lane.withLock { lane throws(SpoolError) -> SubmitRole in
            if lane.closed && !rows.isEmpty { throw closedError() }
            lane.pending.append(contentsOf: rows)
            if !waitForCommit {
                // Buffered: return at once, waking the background committer past a quarter of
                // the high-water mark; past the mark itself, wait for a commit like a durable
                // append, so memory stays bounded when appends outrun the disk.
                let waiting = lane.pending.count
                if waiting < configuration.bufferedHighWater {
                    return waiting >= configuration.bufferedHighWater / 4 ? .wakeCommitter : .returnNow
                }
            }
            lane.issued += 1
            if lane.leaderActive {
                let waiter = Waiter(ticket: lane.issued)
                lane.waiters.append(waiter)
                return .wait(waiter)
            }
            lane.leaderActive = true
            return .lead(lane.issued)
        }
        switch role {
        case .returnNow:
            return
        case .wakeCommitter:
            committer?.request()
        case .lead(let ticket):
            try lead(ticket: ticket)
        case .wait(let waiter):
            waiter.semaphore.wait()
            if let failure = waiter.failure { throw failure }
            if waiter.lead {
                gatherLateArrivals()
                try lead(ticket: waiter.ticket)
            }
        }
    }

    /// The callers woken with the new leader are about to append again: while they keep
    /// arriving, give them the core for a moment, so this round carries their rows too.
    /// Bounded: at most a few yields, never a sleep.
    private func gatherLateArrivals() {
        var seen = lane.withLock { $0.waiters.count }
        for _ in 0..<8 {
            sched_yield()
            let now = lane.withLock { $0.waiters.count }
            if now == seen { return }
            seen = now
        }
    }

    /// One round of commit: everything pending, in one transaction.
    private func lead(ticket: UInt64) throws(SpoolError) {
        let now = self.now
        let (outcome, last, failure) = writer.withLock { writer -> (Writer.Outcome, UInt64, SpoolError?) in
            let (rows, last) = lane.withLock { lane -> ([PreparedRow], UInt64) in
                // Swap buffers instead of copying: both keep their capacity between rounds.
                var rows = writer.takeSpareBuffer()
                swap(&rows, &lane.pending)
                lane.rounds += 1
                lane.roundRows += UInt64(rows.count)
                return (rows, lane.issued)
            }
            do throws(SpoolError) {
                let outcome = rows.isEmpty ? Writer.Outcome() : try writer.insert(rows, now: now)
                writer.returnSpareBuffer(rows)
                return (outcome, last, nil)
            } catch {
                if isBuffered {
                    // Their appends already returned: keep the rows for the next round.
                    lane.withLock { $0.pending.insert(contentsOf: rows, at: 0) }
                }
                return (Writer.Outcome(), last, error)
            }
        }
        let woken = lane.withLock { lane -> [Waiter] in
            lane.settled = last
            var woken: [Waiter] = []
            var remaining: [Waiter] = []
            for waiter in lane.waiters {
                if waiter.ticket <= last {
                    waiter.failure = failure
                    woken.append(waiter)
                } else {
                    remaining.append(waiter)
                }
            }
            if remaining.isEmpty {
                lane.leaderActive = false
            } else {
                let next = remaining.removeFirst()
                next.lead = true
                woken.append(next)
            }
            lane.waiters = remaining
            return woken
        }
        for waiter in woken { waiter.semaphore.signal() }
        reportDrops(outcome.drops, now: now)
        if let failure { throw failure }
    }
}

/// The buffered mode's committing thread: woken by `request()`, it runs `commit` once per wake-up
/// (requests while it commits fold into one more round).
final class BackgroundCommitter: Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let requested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let started = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    func start(_ commit: @escaping @Sendable () -> Void) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            while true {
                wake.wait()
                if stopped.load(ordering: .acquiring) { return }
                requested.store(false, ordering: .releasing)
                commit()
            }
        }
    }

    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    /// Stops the thread after its current round and waits for it.
    func stop() {
        guard started.load(ordering: .acquiring), !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        finished.wait()
    }
}
