import Foundation
import SpoolCrashRig
import SpoolTestServer
import Synchronization
import Testing

/// The crash matrix of issue #7: real `SpoolTestChild append` and `spool forward` processes
/// killed with SIGKILL at named points (`SPOOL_CRASH_AT`, debug builds) and at random moments,
/// against a real spool file and a real receiver on 127.0.0.1. The invariants are
/// ``DeliveryLedger``'s, the same the soak (tools/soak) checks.
@Suite(.serialized) struct CrashMatrixTests {
    /// Where a process dies.
    enum Point: String, CaseIterable, Comparable, Sendable {
        // The appending process.
        case appendRandom = "append@random"
        case appendCommit = "append@store.commit"
        case checkpoint = "append@store.checkpoint"
        // The forwarding process.
        case claim = "forward@store.claim"
        case midRequest = "forward@mid-request"
        case afterResponse = "forward@forward.after-response"
        case ackCommit = "forward@store.commit"
        case forwardRandom = "forward@random"

        static let appender: [Point] = [.appendRandom, .appendCommit, .checkpoint]
        static let forwarder: [Point] = [.claim, .midRequest, .afterResponse, .ackCommit, .forwardRandom]
        static func < (a: Point, b: Point) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

        /// Kills wanted at this point: 15 per appender point, 9 per forwarder point, 90 in all.
        var target: Int { Point.appender.contains(self) ? 15 : 9 }
    }

    @Test func everyReturnedAppendIsDeliveredThroughSIGKILLsOfTheAppenderAndTheForwarder() async throws {
        let started = ContinuousClock.now
        let directory = TemporaryDirectory()
        let ledger = DeliveryLedger(spool: directory.file("crash.spool"), sink: "http")
        let receiver = LedgerReceiver(ledger: ledger)
        let kills = try await TestHTTPServer.withServer(behaviour: receiver.behaviour) { server in
            // The trials block on pipes and process exits: on a thread of their own, not on the
            // cooperative pool the other suites' tasks need.
            try await onOwnThread { try Matrix(ledger: ledger, receiver: receiver, server: server).run() }
        }

        let figures = ledger.figures
        #expect(ledger.violations.isEmpty, "\(ledger.violations)")
        for point in Point.allCases {
            #expect(kills[point, default: 0] >= point.target, "\(point.rawValue): only \(kills[point, default: 0]) kills")
        }
        #expect(kills.values.reduce(0, +) >= 90)
        #expect(figures.lost == 0 && figures.returned > 0 && figures.delivered >= figures.returned)
        #expect(figures.duplicates <= figures.duplicateBound)
        #expect(figures.booksChecked > 0)  // the books were checked (and balanced: a violation otherwise)
        let trials = kills.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")
        print("crash matrix: \(kills.values.reduce(0, +)) SIGKILL trials (\(trials)); \(figures); \(started.duration(to: .now))")
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The trials, one appender kill then one forwarder kill per round, until every point has
    /// its kills; then a clean `--until-empty` run.
    struct Matrix: Sendable {
        let ledger: DeliveryLedger
        let receiver: LedgerReceiver
        let server: TestHTTPServer
        let batchSize = 10
        /// Pages before the appender checkpoints: small, so checkpoints come every few appends.
        let checkpointPages = 16

        func run() throws -> [Point: Int] {
            var kills: [Point: Int] = [:]
            var round = 0
            // A process may end before its point is reached; such a kill is not counted.
            while Point.allCases.contains(where: { kills[$0, default: 0] < $0.target }) && round < 150 {
                let appenderDue = Point.appender.filter { kills[$0, default: 0] < $0.target }
                let forwarderDue = Point.forwarder.filter { kills[$0, default: 0] < $0.target }
                let appenderPoint = appenderDue.isEmpty ? .appendRandom : appenderDue[round % appenderDue.count]
                let forwarderPoint = forwarderDue.isEmpty ? .forwardRandom : forwarderDue[round % forwarderDue.count]
                let maxInFlight = round % 2 + 1
                round += 1
                if try killAppender(at: appenderPoint) { kills[appenderPoint, default: 0] += 1 }
                if try killForwarder(at: forwarderPoint, maxInFlight: maxInFlight) { kills[forwarderPoint, default: 0] += 1 }
                if !ledger.violations.isEmpty {
                    throw Failure(description: "round \(round) (\(appenderPoint.rawValue), \(forwarderPoint.rawValue)): \(ledger.violations)")
                }
            }

            // A last clean run delivers the rest.
            ledger.forwarderStarted(maxInFlight: 1)
            let last = try CrashProcess.forwarder(spool: ledger.spool, url: server.url(path: "/ingest"), sink: ledger.sink,
                                                  batchSize: batchSize, maxInFlight: 1, untilEmpty: true)
            guard last.waitForExit(timeout: 60), last.status == 0 else {
                last.kill()
                throw Failure(description: "the final forwarder did not finish cleanly")
            }
            let left = try ledger.check()
            if !left.isEmpty { throw Failure(description: "\(left.count) entries left after the final run") }
            return kills
        }

        /// Runs an appender from the next number and kills it at `point`; records every number
        /// it printed, then checks the spool. False if it was not killed where meant.
        private func killAppender(at point: Point) throws -> Bool {
            var crashAt: String?
            switch point {
            case .appendCommit: crashAt = "store.commit:\(Int.random(in: 30...300))"
            case .checkpoint: crashAt = "store.checkpoint:\(Int.random(in: 1...4))"
            default: crashAt = nil
            }
            let log = ledger.spool + ".appender.log"
            try? FileManager.default.removeItem(atPath: log)
            // A checkpoint past 16 × the threshold is a RESTART, which waits for the writer
            // lock: an appender that never pauses can hold it off for the whole busy timeout. At
            // 2000 appends a second (an app logging steadily) it gets through at once.
            let appender = try CrashProcess.appender(spool: ledger.spool, from: try ledger.nextNumber(),
                                                     checkpointPages: checkpointPages, perSecond: point == .checkpoint ? 2000 : nil,
                                                     crashAt: crashAt, stderrPath: log)
            // Random time: after a random number of returned appends. A named point kills the
            // process itself; a point never reached would leave it appending: stop at a cap.
            let limit = crashAt == nil ? Int.random(in: 20...300) : 5_000
            var printed = 0
            while printed < limit, let number = appender.readNumber() {
                ledger.returned(number)
                printed += 1
            }
            appender.kill()
            while let number = appender.readNumber() { ledger.returned(number) }
            try ledger.check()
            let hit = appender.wasKilled && (crashAt == nil || printed < limit)
            if !hit {
                let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                print("crash matrix: \(point.rawValue) not reached: \(printed) appends, status \(appender.status) \(stderr.suffix(500))")
            }
            return hit
        }

        /// Runs `spool forward --until-empty` and kills it at `point`; then checks the spool and
        /// the in-flight window. False if the run finished before the point was reached.
        private func killForwarder(at point: Point, maxInFlight: Int) throws -> Bool {
            let batches = max(1, try ledger.check().count / batchSize)
            var crashAt: String?
            switch point {
            case .claim: crashAt = "store.claim:\(Int.random(in: 1...batches))"
            case .afterResponse: crashAt = "forward.after-response:\(Int.random(in: 1...batches))"
            case .ackCommit: crashAt = "store.commit:\(Int.random(in: 1...batches))"
            default: crashAt = nil
            }
            ledger.forwarderStarted(maxInFlight: maxInFlight)
            let acceptedBefore = receiver.accepted
            let forwarder = try CrashProcess.forwarder(spool: ledger.spool, url: server.url(path: "/ingest"), sink: ledger.sink,
                                                       batchSize: batchSize, maxInFlight: maxInFlight, untilEmpty: true,
                                                       crashAt: crashAt)
            defer { receiver.cancelKill() }
            switch point {
            case .midRequest:
                receiver.kill(forwarder.pid, atRequest: Int.random(in: 1...batches))
            case .forwardRandom:
                // After a random number of accepted requests, wherever the forwarder is then.
                let target = acceptedBefore + Int.random(in: 1...batches)
                let deadline = ContinuousClock.now + .seconds(30)
                while receiver.accepted < target && !forwarder.waitForExit(timeout: 0) && ContinuousClock.now < deadline {
                    _ = receiver.acceptedSignal.wait(timeout: .now() + 0.05)
                }
                forwarder.kill()
            default:
                break
            }
            guard forwarder.waitForExit(timeout: 60) else {
                forwarder.kill()
                throw Failure(description: "\(point.rawValue): the forwarder did not end")
            }
            guard forwarder.wasKilled else {
                if forwarder.status != 0 { throw Failure(description: "\(point.rawValue): the forwarder failed with status \(forwarder.status)") }
                try ledger.check()
                return false
            }
            // Everything the dead process sent has been read once its connections are closed.
            let server = server
            try Self.wait { try await server.waitUntil(timeout: .seconds(10)) { $0.openConnections == 0 } }
            try ledger.forwarderKilled(maxInFlight: maxInFlight, batchSize: batchSize)
            return true
        }

        /// Blocks this (own) thread until `operation` finished.
        private static func wait(_ operation: @escaping @Sendable () async throws -> Void) throws {
            let done = DispatchSemaphore(value: 0)
            let failure = Mutex<(any Error)?>(nil)
            Task {
                do { try await operation() } catch { failure.withLock { $0 = error } }
                done.signal()
            }
            done.wait()
            if let error = failure.withLock({ $0 }) { throw error }
        }
    }
}
