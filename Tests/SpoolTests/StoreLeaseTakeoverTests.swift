import Foundation
import Testing
@testable import Spool

/// A lease whose holder provably no longer runs on this host is taken over at once; any other
/// is waited out.
@Suite struct StoreLeaseTakeoverTests {
    let directory = TemporaryDirectory()
    var path: String { directory.file("app.spool") }

    func store(_ reports: Reports = Reports()) throws -> SpoolStore {
        var configuration = SpoolStore.Configuration()
        configuration.report = reports.record
        let store = try SpoolStore(path: path, configuration: configuration)
        try store.registerSink("loki")
        return store
    }

    @Test func anOwnerStringNamesThisProcessHostAndStartTime() throws {
        let owner = LeaseOwner.thisProcess("spool forward")
        let identity = try #require(LeaseOwner.identity(in: owner))
        #expect(owner.hasPrefix("spool forward pid \(getpid()) on "))
        #expect(identity.pid == getpid() && identity.host == LeaseOwner.hostName())
        #expect(ProcessProbe.state(of: getpid()) == .running(started: identity.started))
        #expect(!LeaseOwner.isProvablyGone(owner))
        #expect(LeaseOwner.identity(in: "spool forward pid 42") == nil)
    }

    @Test func aHolderKilledWithSIGKILLOnThisHostIsTakenOverAtOnce() throws {
        try store().close()
        let holder = try Child("SpoolTestChild", ["lease", path, "loki", "-", "300"])
        defer { if holder.process.isRunning { holder.kill() } }
        #expect(holder.readLine() == "leased")
        let pid = holder.process.processIdentifier
        let reports = Reports()
        let spool = try store(reports)
        // Alive, it keeps the sink.
        #expect { try spool.acquireLease(sink: "loki", owner: "parent", duration: .seconds(30)) } throws: { error in
            let error = error as? SpoolError
            return error?.code == .leaseHeld && error!.message.contains("test child pid \(pid) on \(LeaseOwner.hostName()) started ")
        }
        holder.kill()
        // Killed (and reaped), it cannot give the lease back, but it is provably gone.
        let owner = LeaseOwner.thisProcess("parent")
        try spool.acquireLease(sink: "loki", owner: owner, duration: .seconds(30))
        #expect(try SQL(path).text("SELECT lease_owner FROM sinks WHERE name = 'loki'") == owner)
        #expect(reports.topics() == ["spool.forward.lease_taken_over"])
        try spool.close()
    }

    @Test func aReusedPidIsNotTheHolder() throws {
        let spool = try store()
        // This process's pid, another start time: the holder that had this pid is gone.
        let previous = "spool forward pid \(getpid()) on \(LeaseOwner.hostName()) started 1"
        try spool.acquireLease(sink: "loki", owner: previous, duration: .seconds(300))
        #expect(LeaseOwner.isProvablyGone(previous))
        try spool.acquireLease(sink: "loki", owner: "next", duration: .seconds(30))
        #expect(try SQL(path).text("SELECT lease_owner FROM sinks WHERE name = 'loki'") == "next")
    }

    @Test(arguments: [
        "spool forward pid 99999999 on another-host started 5",  // another host: cannot tell
        "spool forward pid 99999999",  // no identity
        "billing forwarder",  // a library user's own owner string
    ])
    func aHolderThatCannotBeProvenGoneIsWaitedOut(holder: String) throws {
        let spool = try store()
        try spool.acquireLease(sink: "loki", owner: holder, duration: .seconds(300))
        #expect(!LeaseOwner.isProvablyGone(holder))
        #expect { try spool.acquireLease(sink: "loki", owner: "next", duration: .seconds(30)) } throws: {
            ($0 as? SpoolError)?.code == .leaseHeld
        }
    }
}
