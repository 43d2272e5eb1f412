import Foundation
import SpoolCrashRig
import SpoolTestServer

// tools/soak: an appender (SpoolTestChild) logging at a steady rate and a `spool forward` to a
// receiver on 127.0.0.1, for as long as asked, with random receiver outages (refusal, 503,
// reset, hang) and random SIGKILLs of both processes. After every kill, and every few seconds,
// the crash invariants (DeliveryLedger, the same as the crash matrix test) are checked. Prints a
// status line every 30 s and a final summary; exits 1 on any violation.
//
//   SpoolSoak [--minutes N] [--spool DIR] [--rate PER_SECOND]

struct Options {
    var minutes = 60.0
    var directory: String?
    var rate = 1000.0

    init(_ arguments: [String]) {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { usage("\(flag) needs a value") }
            switch flag {
            case "--minutes": minutes = number(value, flag)
            case "--spool": directory = value
            case "--rate": rate = number(value, flag)
            default: usage("unknown option \(flag)")
            }
        }
    }
}

func number(_ text: String, _ flag: String) -> Double {
    guard let value = Double(text), value > 0 else { usage("\(flag) takes a positive number") }
    return value
}

func usage(_ problem: String) -> Never {
    FileHandle.standardError.write(Data("soak: \(problem)\nusage: tools/soak [--minutes N] [--spool DIR] [--rate PER_SECOND]\n".utf8))
    exit(2)
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let directory = options.directory ?? NSTemporaryDirectory() + "spool-soak-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
let ledger = DeliveryLedger(spool: directory + "/soak.spool", sink: "soak")
let receiver = LedgerReceiver(ledger: ledger)
let server = try await TestHTTPServer.start(behaviour: receiver.behaviour, configuration: .init(keepsRequests: false))
let url = server.url(path: "/ingest")
let (batchSize, maxInFlight) = (100, 2)
let started = Date()
let deadline = started.addingTimeInterval(options.minutes * 60)

/// The appender and the thread recording what it printed.
final class RunningAppender: Sendable {
    let process: CrashProcess
    private let drained = DispatchSemaphore(value: 0)

    init(_ ledger: DeliveryLedger, rate: Double) throws {
        process = try CrashProcess.appender(spool: ledger.spool, from: try ledger.nextNumber(), checkpointPages: 1000, perSecond: rate)
        let process = process, drained = drained
        Thread.detachNewThread {
            while let number = process.readNumber() { ledger.returned(number) }
            drained.signal()
        }
    }

    /// SIGKILL; returns once everything it printed is recorded.
    func kill() {
        process.kill()
        drained.wait()
    }
}

@MainActor func startForwarder() throws -> CrashProcess {
    ledger.forwarderStarted(maxInFlight: maxInFlight)
    return try CrashProcess.forwarder(spool: ledger.spool, url: url, sink: ledger.sink, batchSize: batchSize, maxInFlight: maxInFlight,
                                      untilEmpty: false, requestTimeoutMs: 2000, stderrPath: directory + "/forwarder.log")
}

@MainActor func killForwarder(_ forwarder: CrashProcess) async throws {
    forwarder.kill()
    try await server.waitUntil(timeout: .seconds(30)) { $0.openConnections == 0 }
    try ledger.forwarderKilled(maxInFlight: maxInFlight, batchSize: batchSize)
}

func later(_ range: ClosedRange<Double>) -> Date { Date().addingTimeInterval(.random(in: range)) }

@MainActor func status(_ prefix: String) {
    let figures = ledger.figures
    let elapsed = Int(Date().timeIntervalSince(started))
    say("\(prefix)[\(elapsed / 60)m\(String(format: "%02d", elapsed % 60))s] \(figures) faults=\(faults) kills=\(appenderKills + forwarderKills) (appender \(appenderKills), forwarder \(forwarderKills)) checks=\(figures.checks) violations=\(ledger.violations.count)")
}

var faults = 0, appenderKills = 0, forwarderKills = 0
var appender = try RunningAppender(ledger, rate: options.rate)
var forwarder = try startForwarder()
var nextAppenderKill = later(2...20), nextForwarderKill = later(2...20), nextFault = later(3...15), nextCheck = later(5...5)
var nextStatus = Date().addingTimeInterval(30)
var faultEnds: Date?
var midRequestKillArmed: Date?
var refusing = false
say("soak: \(options.minutes) min in \(directory), \(options.rate) appends/s, receiver \(url), batch \(batchSize) x \(maxInFlight) in flight")

while Date() < deadline && ledger.violations.isEmpty {
    try await Task.sleep(for: .milliseconds(50))
    let now = Date()
    if now >= nextAppenderKill {
        appender.kill()
        appenderKills += 1
        try ledger.check()
        appender = try RunningAppender(ledger, rate: options.rate)
        nextAppenderKill = later(2...20)
    }
    // Half the forwarder's kills are at a random moment, half while the receiver holds one of
    // its requests (mid-request: the batch arrived, the answer never will), or a little later if
    // no request comes.
    let forwarderDue: Bool
    if let armed = midRequestKillArmed {
        forwarderDue = forwarder.waitForExit(timeout: 0) || now.timeIntervalSince(armed) > 10
    } else {
        if forwarder.waitForExit(timeout: 0) { ledger.violation("the forwarder exited by itself, status \(forwarder.status); see forwarder.log") }
        forwarderDue = now >= nextForwarderKill
    }
    if forwarderDue && midRequestKillArmed == nil && Bool.random() {
        receiver.kill(forwarder.pid, atRequest: 1)
        midRequestKillArmed = now
    } else if forwarderDue {
        receiver.cancelKill()
        midRequestKillArmed = nil
        try await killForwarder(forwarder)
        forwarderKills += 1
        forwarder = try startForwarder()
        nextForwarderKill = later(2...20)
    }
    if let ends = faultEnds, now >= ends {
        receiver.set(fault: nil)
        if refusing { try await server.restart() }
        refusing = false
        faultEnds = nil
        nextFault = later(3...15)
    } else if faultEnds == nil && now >= nextFault {
        faults += 1
        faultEnds = later(1...10)
        switch Int.random(in: 0...3) {
        case 0:
            refusing = true
            await server.stop()
        case let pick:
            receiver.set(fault: LedgerReceiver.Fault.allCases[pick - 1])
        }
    }
    if now >= nextCheck {
        try ledger.check()
        nextCheck = later(5...5)
    }
    if now >= nextStatus {
        status("")
        nextStatus = now.addingTimeInterval(30)
    }
}

// The end: no more faults; the appender stops; the forwarder is killed once more, and a last
// clean `spool forward --until-empty` must deliver everything that is left.
receiver.set(fault: nil)
if refusing { try await server.restart() }
appender.kill()
appenderKills += 1
receiver.cancelKill()
try await killForwarder(forwarder)
forwarderKills += 1
ledger.forwarderStarted(maxInFlight: maxInFlight)
let last = try CrashProcess.forwarder(spool: ledger.spool, url: url, sink: ledger.sink, batchSize: batchSize, maxInFlight: maxInFlight,
                                      untilEmpty: true, requestTimeoutMs: 2000, stderrPath: directory + "/forwarder.log")
var finalRun: [String] = []
if !last.waitForExit(timeout: 600) {
    last.kill()
    finalRun.append("the final forwarder did not finish within 600 s")
} else if last.status != 0 {
    finalRun.append("the final forwarder exited with status \(last.status)")
}
let left = try ledger.check()
await server.shutdown()
status("final ")
let figures = ledger.figures
let violations = ledger.violations + finalRun + (left.isEmpty ? [] : ["\(left.count) entries still pending after the final run"])
    + (figures.duplicates <= figures.duplicateBound ? [] : ["more duplicates than the bound"])
for violation in violations.prefix(20) { say("soak: VIOLATION: \(violation)") }
say("entries=\(figures.returned) faults=\(faults) kills=\(appenderKills + forwarderKills) lost=\(figures.lost) duplicated=\(figures.duplicates) (bound \(figures.duplicateBound))")
exit(violations.isEmpty ? 0 : 1)
