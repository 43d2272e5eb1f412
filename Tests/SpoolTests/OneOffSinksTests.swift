import Foundation
import Testing
@testable import SpoolCommand

/// A one-off run's reserved sinks are removed by the next `spool forward` once their process is
/// gone, also while a killed forwarder waits for its parent to reap it.
@Suite struct OneOffSinksTests {
    @Test func aLiveProcessHoldsItsSinksAndAnEndedOneNot() throws {
        let host = Forward.hostName()
        #expect(!OneOffSinks.isStale("spool-once-hold:\(host):\(getpid())"))
        #expect(!OneOffSinks.isStale("spool-once:\(host):\(getpid()):http"))
        #expect(!OneOffSinks.isStale("spool-once-hold:another-host:999999"))
        #expect(!OneOffSinks.isStale("loki"))

        // A child that has ended and is not reaped yet: a zombie, which `kill(pid, 0)` still finds.
        var pid: pid_t = 0
        var arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { for argument in arguments { free(argument) } }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, &arguments, environ) == 0)
        defer { var status: Int32 = 0; _ = waitpid(pid, &status, 0) }
        // Waits for its exit and leaves it unreaped (WNOWAIT).
        var info = siginfo_t()
        #expect(waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0)
        #expect(kill(pid, 0) == 0)
        #expect(OneOffSinks.isStale("spool-once-hold:\(host):\(pid)"))
        #expect(OneOffSinks.isStale("spool-once:\(host):\(pid):http"))
    }
}
