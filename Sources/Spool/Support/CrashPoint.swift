#if DEBUG
import Foundation
import Synchronization

/// Named places where a test may kill the process, for the crash matrix
/// (Tests/SpoolTests/CrashMatrixTests.swift). A random-time SIGKILL rarely lands inside a claim,
/// between a destination's answer and the acknowledgement, or inside a checkpoint; these do.
///
/// `SPOOL_CRASH_AT=<name>:<n>` in the environment makes the process send SIGKILL to itself the
/// n-th time it reaches `<name>` (counting from 1). Only debug builds have the mechanism: in a
/// release build ``reached(_:)`` is an empty inlined function.
package enum CrashPoint {
    /// The point named by `SPOOL_CRASH_AT`, read once.
    private static let armed: (name: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["SPOOL_CRASH_AT"],
              let colon = value.lastIndex(of: ":"), let count = Int(value[value.index(after: colon)...]), count > 0
        else { return nil }
        return (String(value[..<colon]), count)
    }()
    private static let hits = Atomic<Int>(0)

    /// Kills this process with SIGKILL if `name` is armed and this is its n-th visit.
    package static func reached(_ name: StaticString) {
        guard let armed, armed.name == name.description else { return }
        if hits.add(1, ordering: .relaxed).newValue == armed.count { kill(getpid(), SIGKILL) }
    }
}
#else
/// Named crash places exist only in debug builds (see the debug definition); this is free.
package enum CrashPoint {
    @inline(__always) package static func reached(_ name: StaticString) {}
}
#endif
