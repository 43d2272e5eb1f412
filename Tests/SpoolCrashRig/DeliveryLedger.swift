import Foundation
import Spool
import Synchronization

/// The crash invariants, checked against what the appender reported, what the receiver accepted
/// and what the spool file holds. One mechanism for the crash matrix test and for `tools/soak`.
///
/// Entries are numbered: the appender writes "entry N" and prints N once its append returned;
/// the receiver records every N it accepted. After every kill (and whenever the soak likes):
///
/// - every N whose append returned is in the spool or was delivered (nothing lost);
/// - the spool's rows are in id order with consecutive N (no gap among undelivered entries),
///   and the sink's position never moves backwards;
/// - `PRAGMA integrity_check` says ok and the store opens without recovering the file;
/// - no entry was dead-lettered or dropped (nothing here gives a reason to);
/// - a duplicate delivery is only of an entry delivered and not acknowledged at the last
///   forwarder kill, and what the killed forwarder itself left so (its in-flight window) is at
///   most maxInFlight × batchSize entries;
/// - with maxInFlight 1, first deliveries arrive in increasing N.
public final class DeliveryLedger: Sendable {
    /// The counts so far.
    public struct Figures: Sendable, CustomStringConvertible {
        /// Appends that returned (N printed by the appender).
        public var returned = 0
        /// Distinct entries the receiver accepted.
        public var delivered = 0
        /// Every acceptance, duplicates included.
        public var deliveries = 0
        /// The sum of maxInFlight × batchSize over forwarder kills: the most duplicates allowed.
        public var duplicateBound = 0
        /// The largest in-flight window measured at a kill.
        public var largestWindow = 0
        /// Returned appends neither delivered nor in the spool at the last check.
        public var lost = 0
        /// Checks of the spool file.
        public var checks = 0
        /// Sinks whose books were found balanced at a check (one per sink per check).
        public var booksChecked = 0
        /// Receptions beyond the first of an entry.
        public var duplicates: Int { deliveries - delivered }

        public var description: String {
            "entries=\(returned) delivered=\(delivered) lost=\(lost) duplicated=\(duplicates) (bound \(duplicateBound), largest window \(largestWindow)) books checked \(booksChecked)"
        }
    }

    private struct State {
        /// Index N: 1 when N's append returned.
        var returned: [UInt8] = []
        var highestReturned = -1
        /// Index N: how many times the receiver accepted N (saturating).
        var deliveries: [UInt8] = []
        var highestDelivered = -1
        /// Every N below is known to be delivered (a cursor, so checks do not rescan).
        var deliveredBelow = 0
        /// Delivered and unacknowledged at the last forwarder kill: the only entries that may
        /// come twice.
        var resendable: Set<Int> = []
        /// Entries delivered by the running forwarder.
        var deliveredInRun: Set<Int> = []
        var strictOrder = false
        var lastFirstDelivery = -1
        var lastPosition: Int64 = 0
        var figures = Figures()
        var violations: [String] = []
    }

    /// The spool file checked.
    public let spool: String
    /// The one sink the forwarder delivers to.
    public let sink: String
    private let state = Mutex(State())

    public init(spool: String, sink: String) {
        self.spool = spool
        self.sink = sink
    }

    /// Everything broken so far, one sentence each.
    public var violations: [String] { state.withLock { $0.violations } }
    public var figures: Figures { state.withLock { $0.figures } }

    /// Records a broken promise the ledger cannot see itself.
    public func violation(_ text: String) {
        state.withLock { $0.violations.append(text) }
    }

    // MARK: - What the processes report

    /// The appender printed `number`: its append returned.
    public func returned(_ number: Int) {
        state.withLock { state in
            Self.grow(&state.returned, to: number)
            if state.returned[number] == 0 { state.figures.returned += 1 }
            state.returned[number] = 1
            state.highestReturned = max(state.highestReturned, number)
        }
    }

    /// A forwarder starts; with `maxInFlight` 1 its first deliveries must arrive in order.
    public func forwarderStarted(maxInFlight: Int) {
        state.withLock { state in
            state.strictOrder = maxInFlight == 1
            state.lastFirstDelivery = -1
            state.deliveredInRun = []
        }
    }

    /// The receiver accepted a request holding `numbers`, in body order.
    public func delivered(_ numbers: [Int]) {
        let problems = state.withLock { state -> [String] in
            var problems: [String] = []
            for number in numbers {
                Self.grow(&state.deliveries, to: number)
                state.figures.deliveries += 1
                state.highestDelivered = max(state.highestDelivered, number)
                state.deliveredInRun.insert(number)
                if state.deliveries[number] == 0 {
                    state.figures.delivered += 1
                    if state.strictOrder && number < state.lastFirstDelivery {
                        problems.append("entry \(number) first delivered after entry \(state.lastFirstDelivery) with one batch in flight")
                    }
                    state.lastFirstDelivery = max(state.lastFirstDelivery, number)
                } else if !state.resendable.contains(number) {
                    problems.append("entry \(number) delivered again outside the in-flight window of a kill")
                }
                if state.deliveries[number] < .max { state.deliveries[number] += 1 }
            }
            return problems
        }
        for problem in problems { violation(problem) }
    }

    /// The number the next appender starts from: above everything returned, delivered or
    /// stored (an append killed after its commit and before it printed is stored, not
    /// returned). Call it only while no appender runs.
    public func nextNumber() throws -> Int {
        var highest = state.withLock { max($0.highestReturned, $0.highestDelivered) }
        guard FileManager.default.fileExists(atPath: spool) else { return highest + 1 }
        let inspector = try SpoolInspector(path: spool)
        if let last = try inspector.lastEntries(1, matching: EntryFilter()).last, let number = Self.number(last.message) {
            highest = max(highest, number)
        }
        return highest + 1
    }

    // MARK: - After a kill

    /// A forwarder was killed and reaped (and the receiver has read everything it sent): its
    /// in-flight window is what it delivered that is still pending, at most
    /// `maxInFlight × batchSize` entries. Everything delivered and pending (that window, and what
    /// is left of earlier ones if it died before sending them again) may be delivered again;
    /// nothing else. Then the dead process's lease is released, as its expiry would, without
    /// waiting for it.
    public func forwarderKilled(maxInFlight: Int, batchSize: Int) throws {
        let pending = try check()
        let bound = maxInFlight * batchSize
        let window = state.withLock { state -> Int in
            state.resendable = Set(pending.filter { $0 < state.deliveries.count && state.deliveries[$0] > 0 })
            let window = state.resendable.intersection(state.deliveredInRun).count
            state.figures.duplicateBound += bound
            state.figures.largestWindow = max(state.figures.largestWindow, window)
            return window
        }
        if window > bound { violation("\(window) entries in flight at a kill, more than \(maxInFlight) × \(batchSize)") }
        let store = try openStore()
        defer { try? store.close() }
        if let holder = try store.stats().sinks.first(where: { $0.name == sink })?.leaseOwner {
            try store.releaseLease(sink: sink, owner: holder)
        }
    }

    /// Checks the spool file against everything reported so far; returns the pending N.
    @discardableResult
    public func check() throws -> [Int] {
        // Returned first, the file next, deliveries last: an entry acknowledged (so gone from
        // the file) was accepted by the receiver before, so it is in the later snapshot.
        let highestReturned = state.withLock { $0.highestReturned }
        let report = try SpoolStore.check(path: spool)
        if report.integrity != "ok" { violation("integrity check: \(report.integrity ?? report.message)") }
        let store = try openStore()
        if let moved = store.recoveredFrom { violation("the spool needed recovery (moved to \(moved))") }
        let stats = try store.stats()
        try store.close()
        if stats.deadLetters > 0 || stats.droppedEntries > 0 {
            violation("\(stats.deadLetters) dead letters and \(stats.droppedEntries) drops where none has a reason")
        }
        // The books balance after every kill: accepted = delivered + dead-lettered + dropped + pending.
        for sink in stats.sinks {
            guard let books = sink.books else { violation("sink '\(sink.name)' has no books"); continue }
            if !books.balances { violation("the books of '\(sink.name)' do not balance: \(books)") }
            if books.pending != sink.pending { violation("'\(sink.name)': the books' pending \(books.pending) is not the stats' \(sink.pending)") }
        }
        state.withLock { $0.figures.booksChecked += stats.sinks.count }
        var pending: [Int] = []
        try SpoolInspector(path: spool).forEachEntry(matching: EntryFilter()) { entry in
            guard let number = Self.number(entry.message) else { throw SpoolError(.io, "a foreign entry in the spool: \(entry.message)") }
            pending.append(number)
        }
        for (earlier, later) in zip(pending, pending.dropFirst()) where later != earlier + 1 {
            violation("stored entries out of order or with a gap: \(earlier) then \(later)")
        }
        let position = stats.sinks.first { $0.name == sink }?.position ?? 0
        let lost = state.withLock { state -> [Int] in
            state.figures.checks += 1
            if position < state.lastPosition { state.violations.append("the position moved back from \(state.lastPosition) to \(position)") }
            state.lastPosition = max(state.lastPosition, position)
            while state.deliveredBelow < state.deliveries.count && state.deliveries[state.deliveredBelow] > 0 { state.deliveredBelow += 1 }
            let stored = Set(pending)
            var lost: [Int] = []
            var number = state.deliveredBelow
            while number <= highestReturned {
                let wasReturned = number < state.returned.count && state.returned[number] != 0
                let wasDelivered = number < state.deliveries.count && state.deliveries[number] > 0
                if wasReturned && !wasDelivered && !stored.contains(number) { lost.append(number) }
                number += 1
            }
            state.figures.lost = lost.count
            return lost
        }
        if !lost.isEmpty { violation("\(lost.count) returned entries neither delivered nor stored, from entry \(lost[0])") }
        return pending
    }

    // MARK: - Support

    private func openStore() throws -> SpoolStore {
        var configuration = SpoolStore.Configuration()
        configuration.report = { _ in }
        return try SpoolStore(path: spool, configuration: configuration)
    }

    private static func grow(_ array: inout [UInt8], to index: Int) {
        if index >= array.count { array.append(contentsOf: repeatElement(0, count: max(index + 1 - array.count, array.count / 2))) }
    }

    /// N of "entry N".
    static func number(_ message: some StringProtocol) -> Int? {
        message.hasPrefix("entry ") ? Int(message.dropFirst(6)) : nil
    }
}
