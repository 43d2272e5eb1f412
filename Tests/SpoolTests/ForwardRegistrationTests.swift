import Foundation
import Testing
@testable import Spool
@testable import SpoolForwarding

/// A local sink that records the entry ids it was given, per sink name.
private struct RecordingSink: LocalSink {
    let received: Shared<[String: [Int64]]>
    var kind: String { "recording" }

    func deliver(_ entries: ArraySlice<StoredEntry>, sink: String) async -> Verdict {
        received.update { $0[sink, default: []] += entries.map(\.id) }
        return .delivered
    }
}

@Suite struct ForwardRegistrationTests {
    /// Entries leave once every registered sink has passed them. A sink registered only when
    /// its scheduler starts would find gone what another new sink had delivered meanwhile.
    @Test func theForwarderRegistersEverySinkBeforeAnyOfThemRuns() async throws {
        let rig = try ForwardRig()
        try rig.append(20)
        let received = Shared<[String: [Int64]]>([:])
        let first = rig.scheduler(RecordingSink(received: received), name: "first")
        let second = rig.scheduler(RecordingSink(received: received), name: "second")
        let store = rig.store
        // The second scheduler starts late: once the first has acknowledged all 20 entries.
        let forwarder = Forwarder(schedulers: [first, second], transport: rig.transport, shutdownGracePeriod: .seconds(5),
                                  clock: SystemClock(), beforeSchedulerRuns: { name in
            guard name == "second" else { return }
            let deadline = ContinuousClock.now + .seconds(30)
            while (try? store.position(of: "first")) ?? 0 < 20 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(2))
            }
        })
        try await forwarder.run(until: .empty)
        #expect(received.value["first"] == Array(1...20))
        #expect(received.value["second"] == Array(1...20))
        #expect(try store.stats().entries == 0)
        try await rig.shutdown()
    }
}
