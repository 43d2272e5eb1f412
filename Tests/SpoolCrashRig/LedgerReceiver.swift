import Foundation
import Synchronization
import SpoolTestServer

/// The destination of the crash runs: a ``TestHTTPServer`` behaviour that records the entries
/// of every request it accepts in a ``DeliveryLedger``, answers with a fault while one is set,
/// and can kill the forwarder while it holds a request (killed mid-request: the receiver has
/// the batch, the forwarder never hears back).
public final class LedgerReceiver: Sendable {
    /// A receiver outage as an answer (refusal is `TestHTTPServer.stop()` instead).
    public enum Fault: String, Sendable, CaseIterable {
        /// 503: the batch is not accepted.
        case unavailable
        /// A 503 head, part of its body, then a reset.
        case reset
        /// The request is read and never answered: the forwarder's timeout ends it.
        case hang
    }

    private struct Plan {
        var fault: Fault?
        /// Kill this process when the countdown of accepted requests reaches zero.
        var killing: (pid: Int32, countdown: Int)?
        var accepted = 0
    }

    private enum Decision { case fault(Fault), accept, acceptAndKill(Int32) }

    private let ledger: DeliveryLedger
    private let plan = Mutex(Plan())
    /// Signalled after each accepted request, so a driver can wait for one without sleeping.
    public let acceptedSignal = DispatchSemaphore(value: 0)

    public init(ledger: DeliveryLedger) {
        self.ledger = ledger
    }

    /// The fault every request gets from now on (nil: accept).
    public func set(fault: Fault?) { plan.withLock { $0.fault = fault } }

    /// Kill `pid` with SIGKILL when its `count`-th accepted request arrives (recorded, not answered).
    public func kill(_ pid: Int32, atRequest count: Int) {
        plan.withLock { $0.killing = (pid, count) }
    }

    /// Forgets a kill that was not carried out.
    public func cancelKill() { plan.withLock { $0.killing = nil } }

    /// Requests accepted so far.
    public var accepted: Int { plan.withLock { $0.accepted } }

    /// The behaviour to give the server.
    public var behaviour: Behaviour {
        Behaviour { [self] request in
            let decision = plan.withLock { plan -> Decision in
                if let fault = plan.fault { return .fault(fault) }
                plan.accepted += 1
                guard let killing = plan.killing else { return .accept }
                if killing.countdown > 1 {
                    plan.killing?.countdown -= 1
                    return .accept
                }
                plan.killing = nil
                return .acceptAndKill(killing.pid)
            }
            switch decision {
            case .fault(.unavailable):
                return .respond(Response(status: 503, body: "soak outage"))
            case .fault(.reset):
                return .resetMidResponse(Response(status: 503, body: Array(repeating: UInt8(ascii: "x"), count: 1024)), sentBytes: 16)
            case .fault(.hang):
                return .hang
            case .accept:
                ledger.delivered(Self.numbers(request.body))
                acceptedSignal.signal()
                return .respond(Response(status: 204))
            case .acceptAndKill(let pid):
                ledger.delivered(Self.numbers(request.body))
                Foundation.kill(pid, SIGKILL)
                acceptedSignal.signal()
                return .hang
            }
        }
    }

    /// The N of every `"message":"entry N"` in an NDJSON body, in order.
    static func numbers(_ body: [UInt8]) -> [Int] {
        let marker = Array(#""message":"entry "#.utf8)
        var numbers: [Int] = []
        var index = 0
        while index + marker.count <= body.count {
            guard body[index] == marker[0], body[index..<index + marker.count].elementsEqual(marker) else {
                index += 1
                continue
            }
            index += marker.count
            var number = 0
            while index < body.count, let digit = body[index].digitValue {
                number = number * 10 + digit
                index += 1
            }
            numbers.append(number)
        }
        return numbers
    }
}

extension UInt8 {
    fileprivate var digitValue: Int? { (48...57).contains(self) ? Int(self) - 48 : nil }
}
