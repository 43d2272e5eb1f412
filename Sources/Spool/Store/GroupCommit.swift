import Dispatch
import Foundation
import Synchronization

// Group commit.
//
// Every `append` (and `flush`) takes a ticket and leaves its rows in `lane.pending`. If no
// commit is under way, the caller becomes the leader: it takes every pending row, commits them
// in one transaction, settles every ticket issued up to then, and wakes their callers all at
// once. Callers that arrive while a commit is under way wait for their round (spinning, then
// parked on a semaphore of their own, see `Waiter`); when the round ends, the first
// still-unsettled one is released as the next leader. Nobody waits on the writer's lock just
// to learn that someone else already committed its rows, which on two cores turned eight
// waiters into a convoy of sequential wake-ups.
//
// In buffered mode `append` leaves its rows and returns; the background committer (while the
// store's `run()` runs), `flush`, an append past the high-water mark, or, without `run()`, an
// append that finds the oldest waiting row older than the delay leads the next round.

/// What callers share: the waiting rows, the tickets, the parked callers.
package struct Lane: Sendable {
    var pending: [PreparedRow] = []
    /// Rows a leader took from `pending` for the round under way (buffered mode's bound counts
    /// them: a failed round puts its returned appends' rows back).
    var inFlight = 0
    var issued: UInt64 = 0
    var settled: UInt64 = 0
    var leaderActive = false
    /// Commit rounds and the rows they carried: their ratio is the group-commit factor.
    var rounds: UInt64 = 0
    var roundRows: UInt64 = 0
    /// The company a new leader can expect: the most callers a recent round settled. It follows
    /// a larger round at once and a smaller one by one caller per round, so one round that
    /// happened to start early does not shrink the next ones.
    var expectedCallers: UInt64 = 0
    var waiters: [Waiter] = []
    var closed = false
    /// Buffered mode: when the oldest row of `pending` was queued (Unix nanoseconds; set by the
    /// append that finds `pending` empty).
    var oldestPendingAt: Int64 = 0
    /// Buffered mode, while the store's `run()` runs: the thread that commits.
    var committer: BackgroundCommitter?
}

private enum SubmitRole {
    case returnNow
    case wakeCommitter(BackgroundCommitter)
    /// Buffered without `run()`: the oldest waiting row is older than the delay.
    case commitOverdue
    case lead(UInt64)
    case wait(Waiter)
}

/// A caller waiting for its round. Its `failure` and `lead` are written before `state` becomes
/// `done` (a releasing store) and read after the caller saw `done` (an acquiring load), which
/// orders the two.
///
/// A waiter first spins: it gives up its core with `sched_yield` and looks again, up to
/// ``spinLimit`` times, and parks on its semaphore only if its round has not settled by then.
/// A committed-mode round takes tens of microseconds, so most waiters never park, and the
/// leader settles them with one atomic exchange each instead of a futex wake each. On two
/// cores with eight appenders that took committed appends from about 91,000 to about 162,000 a
/// second, and fsync appends from about 25,000 to about 38,000: every wake had been a system
/// call on the leader's path and a context switch that interrupted the next commit
/// (BENCHMARKS.md, "Earlier: spinning waiters and the checkpointer"). Yielding, not
/// busy-looping, keeps the leader running when it shares a core with its waiters, and gives way
/// to any other runnable thread: what spinning takes is otherwise idle time. The same holds in
/// fsync mode, where a round waits a few hundred microseconds for the disk.
package final class Waiter: @unchecked Sendable {
    let ticket: UInt64
    /// Made only by a waiter that parks, before it says so (most never do).
    private var semaphore: DispatchSemaphore?
    private let state = Atomic<UInt8>(Waiter.spinning)
    var failure: SpoolError?
    var lead = false

    private static let spinning: UInt8 = 0
    private static let parked: UInt8 = 1
    private static let done: UInt8 = 2

    init(ticket: UInt64) { self.ticket = ticket }

    /// Returns once ``settle()`` was called, after at most `spins` yields before parking.
    func wait(spins: Int) {
        for _ in 0..<spins {
            if state.load(ordering: .acquiring) == Self.done { return }
            sched_yield()
        }
        let semaphore = DispatchSemaphore(value: 0)
        self.semaphore = semaphore
        let (parked, _) = state.compareExchange(expected: Self.spinning, desired: Self.parked, ordering: .acquiringAndReleasing)
        if parked { semaphore.wait() }
    }

    /// Releases the caller: called once, after `failure` and `lead` are set.
    func settle() {
        if state.exchange(Self.done, ordering: .acquiringAndReleasing) == Self.parked { semaphore?.signal() }
    }
}

/// A leader's wait for its company (see `SpoolStore.lead`): while fewer callers than
/// `expected` are in the round, it yields and looks for new arrivals, at most 64 times and at
/// most 4 times in a row without one.
package struct Gathering {
    /// Tickets settled before this round: the round's callers are the tickets after it.
    let settled: UInt64
    let expected: UInt64
    private var yields = 0
    private var idle = 0

    init(settled: UInt64, expected: UInt64) {
        self.settled = settled
        self.expected = expected
    }

    /// Waits for arrivals; appends their rows to `rows` and raises `last` to the last ticket
    /// they carry. Returns false when the round is complete (nothing was taken then).
    mutating func more(into rows: inout [PreparedRow], through last: inout UInt64, from lane: FastLock<Lane>) -> Bool {
        while last - settled < expected && yields < 64 && idle < 4 {
            sched_yield()
            yields += 1
            let arrived = lane.withLock { lane -> Bool in
                guard lane.issued > last else { return false }
                rows.append(contentsOf: lane.pending)
                lane.roundRows += UInt64(lane.pending.count)
                lane.inFlight += lane.pending.count
                lane.pending.removeAll(keepingCapacity: true)
                last = lane.issued
                return true
            }
            if arrived { idle = 0; return true }
            idle += 1
        }
        return false
    }
}

extension SpoolStore {
    /// Average rows per commit so far: how much concurrent appenders share commits.
    package var rowsPerCommit: Double {
        lane.withLock { $0.rounds == 0 ? 0 : Double($0.roundRows) / Double($0.rounds) }
    }

    /// Yields a waiter makes before it parks (see ``Waiter``). In buffered mode only an append
    /// past the high-water mark waits, for a round of thousands of rows: it parks at once.
    var spinLimit: Int { configuration.waiterSpins ?? (isBuffered ? 0 : 256) }

    var isBuffered: Bool {
        if case .buffered = configuration.durability { return true }
        return false
    }

    /// Leaves `rows` for the next commit; with `waitForCommit`, returns once they are committed.
    func submit(rows: some Collection<PreparedRow> & Sendable, waitForCommit: Bool) throws(SpoolError) {
        let role = try lane.withLock { lane throws(SpoolError) -> SubmitRole in
            if lane.closed && !rows.isEmpty { throw closedError() }
            if waitForCommit {
                lane.pending.append(contentsOf: rows)
            } else {
                // Buffered: return at once, waking the background committer past a quarter of
                // the high-water mark (without one, committing here once the oldest waiting
                // row is older than the delay); past the mark itself (counting the rows of a
                // round under way), wait for a commit like a durable append, so memory stays
                // bounded when appends outrun the disk or every commit fails. Such a caller
                // hears the round's failure, and its rows leave the queue with it.
                let waiting = lane.pending.count + lane.inFlight + rows.count
                // The clock is read only when the answer needs it: to date the oldest waiting
                // row, and without a committer to tell an overdue commit (one read per append).
                let queuedAt = lane.pending.isEmpty || lane.committer == nil ? now : 0
                if lane.pending.isEmpty { lane.oldestPendingAt = queuedAt }
                if waiting < configuration.bufferedHighWater {
                    lane.pending.append(contentsOf: rows)
                    if let committer = lane.committer {
                        return waiting >= configuration.bufferedHighWater / 4 ? .wakeCommitter(committer) : .returnNow
                    }
                    return queuedAt - lane.oldestPendingAt >= bufferedDelayNanoseconds ? .commitOverdue : .returnNow
                }
                let ticket = lane.issued + 1
                lane.pending.append(contentsOf: rows.lazy.map { row in
                    var row = row
                    row.waitingTicket = ticket
                    return row
                })
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
        case .wakeCommitter(let committer):
            committer.request()
        case .commitOverdue:
            // What the committer would have done: these rows were accepted, so a failure is
            // reported and they stay queued for the next round, as after a background commit.
            commitWhatWaits()
        case .lead(let ticket):
            try lead(ticket: ticket)
        case .wait(let waiter):
            waiter.wait(spins: spinLimit)
            if let failure = waiter.failure { throw failure }
            if waiter.lead {
                try lead(ticket: waiter.ticket)
            }
        }
    }

    /// Buffered mode: ``SpoolStore/Durability/buffered(maxDelay:)``'s delay in nanoseconds.
    var bufferedDelayNanoseconds: Int64 {
        if case .buffered(let delay) = configuration.durability { return delay.totalNanoseconds }
        return .max
    }

    /// Buffered mode without `run()`: commits what waits, as the background committer would: a
    /// failure is reported (`spool.store.buffered_commit_failed`), and the rows stay queued, tried
    /// again by the first append after another delay (not by every append: each try may wait
    /// the busy timeout for another process's lock).
    func commitWhatWaits() {
        do throws(SpoolError) {
            try flush()
        } catch {
            let now = self.now
            lane.withLock { lane in
                if !lane.pending.isEmpty { lane.oldestPendingAt = max(lane.oldestPendingAt, now) }
            }
            reporter(LogEntry(
                timestamp: now, level: .error, topic: "spool.store.buffered_commit_failed",
                message: "a buffered commit failed; the entries stay in memory and are retried after maxDelay",
                context: ["error": .string(error.description), "path": .string(path)]))
        }
    }

    /// One round of commit: everything pending, in one transaction, and, when the last round
    /// carried several callers, the company that arrives while it is open.
    ///
    /// The company: when the last round settled several callers, they were all woken at once
    /// and are about to append again. On a machine with fewer cores than appenders the first one
    /// back would otherwise commit alone, and the rest would follow in ones and twos (1.4 rows
    /// per commit with 8 threads on 2 cores). So the leader keeps its transaction open until as
    /// many callers as last time are in the round, or until the arrivals stop, giving up its
    /// core between looks (`Gathering`). It inserts each arrival at once: the inserts run while
    /// the rest of the company is still preparing its rows, not after them, and only the
    /// commit waits for the whole round.
    ///
    /// Bounded by yields, never a sleep: a single appender never waits (its last round had no
    /// company), and a leader whose company does not come back stops after a few yields without
    /// a new arrival (PostgreSQL's `commit_delay`/`commit_siblings` make the same trade with a
    /// timed sleep).
    private func lead(ticket: UInt64) throws(SpoolError) {
        let now = self.now
        // Buffered without `run()`: how long the oldest row taken had waited, if too long.
        var overdue: Int64?
        let (outcome, last, failure) = writer.withLock { writer -> (Writer.Outcome, UInt64, SpoolError?) in
            // Swap buffers instead of copying: both keep their capacity between rounds.
            var rows = writer.takeSpareBuffer()
            let taken = lane.withLock { lane -> (last: UInt64, gathering: Gathering, oldest: Int64) in
                swap(&rows, &lane.pending)
                lane.rounds += 1
                lane.roundRows += UInt64(rows.count)
                lane.inFlight = rows.count
                if isBuffered && !rows.isEmpty && lane.committer == nil && now - lane.oldestPendingAt > bufferedDelayNanoseconds {
                    overdue = now - lane.oldestPendingAt
                }
                return (lane.issued, Gathering(settled: lane.settled, expected: lane.expectedCallers), lane.oldestPendingAt)
            }
            var (last, gathering) = (taken.last, taken.gathering)
            // fsync mode gathers its company before it opens the transaction: inserting while
            // the company arrives made its rounds slower, not faster (measured: 49,000 → 42,000
            // appends/s with eight threads, the COMMIT with its fsync taking ~20 µs longer).
            let insertWhileGathering = configuration.durability != .fsync
            if !insertWhileGathering {
                while gathering.more(into: &rows, through: &last, from: lane) {}
            }
            do throws(SpoolError) {
                let outcome = rows.isEmpty ? Writer.Outcome() : try writer.insert(&rows, now: now) { rows in
                    insertWhileGathering && gathering.more(into: &rows, through: &last, from: lane)
                }
                writer.returnSpareBuffer(rows)
                return (outcome, last, nil)
            } catch {
                if isBuffered {
                    // Rows whose appends already returned stay for the next round; the rows of
                    // callers waiting for this round leave with the error they are given.
                    let kept = rows.filter { $0.waitingTicket == 0 }
                    lane.withLock { lane in
                        if !kept.isEmpty { lane.oldestPendingAt = lane.pending.isEmpty ? taken.oldest : min(taken.oldest, lane.oldestPendingAt) }
                        lane.pending.insert(contentsOf: kept, at: 0)
                        lane.inFlight = 0  // in the same step: never counted twice
                    }
                }
                return (Writer.Outcome(), last, error)
            }
        }
        let woken = lane.withLock { lane -> [Waiter] in
            lane.inFlight = 0
            lane.expectedCallers = max(last - lane.settled, lane.expectedCallers - min(lane.expectedCallers, 1))
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
        for waiter in woken { waiter.settle() }
        reportDrops(outcome.drops, now: now)
        if let overdue { reportBufferedWithoutRun(waited: overdue, now: now) }
        // Without `run()`, the checkpoint this commit asked for, now that the writer is free.
        checkpointIfDue()
        if let failure { throw failure }
    }
}

/// The buffered mode's committing thread, for one run of the store's background work: woken by
/// `request()` (the timer, appends past a quarter of the high-water mark), it commits once per
/// wake-up (requests while it commits fold into one more round), and once more when stopped.
package final class BackgroundCommitter: Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let requested = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    /// Ends the thread's loop after one more round.
    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
    }

    /// The thread's loop: `commit` per wake-up, `failed` with a round's error; once stopped, a
    /// last round, whose error it returns. Runs on a thread of its own (commits block).
    func serve(commit: () throws(SpoolError) -> Void, failed: (SpoolError) -> Void) -> SpoolError? {
        while true {
            wake.wait()
            let stopping = stopped.load(ordering: .acquiring)
            requested.store(false, ordering: .releasing)
            do throws(SpoolError) {
                try commit()
            } catch {
                failed(error)
                if stopping { return error }
            }
            if stopping { return nil }
        }
    }
}
