import Foundation

/// Names a lease's holder so that another process on the same host can prove it dead.
///
/// A killed forwarder cannot give its lease back. Waiting out the lease (30 s by default) is
/// needed when the holder may still be alive somewhere, but not when it provably is not: the
/// same host, and its pid is gone, a zombie, or belongs to a process started at another time
/// (a reused pid). So an owner string made by ``thisProcess(_:)`` ends with
/// `pid <pid> on <host> started <start>`, the start being the kernel's start time of the
/// process (Linux: `/proc/<pid>/stat` field 22, clock ticks since boot; macOS: `p_starttime`,
/// microseconds since the epoch). Any other owner string is never taken over early.
///
/// ```swift
/// let owner = LeaseOwner.thisProcess("billing forwarder")
/// // "billing forwarder pid 4242 on web-1 started 81234567"
/// ```
package enum LeaseOwner {
    /// An owner string for this process: `label` followed by its pid, host and start time.
    /// - Parameter label: What the holder is, for people (`spool forward`).
    package static func thisProcess(_ label: String) -> String {
        let pid = getpid()
        return "\(label) pid \(pid) on \(hostName()) started \(ProcessProbe.startTime(of: pid) ?? 0)"
    }

    /// The host, pid and start time an owner string ends with.
    struct Identity: Equatable {
        var pid: Int32
        var host: String
        var started: UInt64
    }

    static func identity(in owner: String) -> Identity? {
        let words = owner.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count >= 6 else { return nil }
        let tail = Array(words.suffix(6))
        guard tail[0] == "pid", tail[2] == "on", tail[4] == "started",
              let pid = Int32(tail[1]), pid > 0, let started = UInt64(tail[5]), started > 0, !tail[3].isEmpty
        else { return nil }
        return Identity(pid: pid, host: String(tail[3]), started: started)
    }

    /// Whether the process that `owner` names provably no longer exists: it ran on this host
    /// and its pid is gone, a zombie, or now a process with another start time.
    static func isProvablyGone(_ owner: String) -> Bool {
        guard let identity = identity(in: owner), identity.host == hostName() else { return false }
        switch ProcessProbe.state(of: identity.pid) {
        case .gone: return true
        case .running(let started): return started != identity.started
        case .unknown: return false
        }
    }

    /// This machine's name (no DNS lookup).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown-host" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "unknown-host" : name.replacingOccurrences(of: " ", with: "_")
    }
}

/// What the kernel says about a process id.
package enum ProcessProbe {
    package enum State: Equatable {
        /// No such process, or a zombie (killed, not yet reaped).
        case gone
        /// A live process started at this time (units: see ``LeaseOwner``).
        case running(started: UInt64)
        /// It exists but its start time cannot be read.
        case unknown
    }

    package static func state(of pid: Int32) -> State {
        guard pid > 0 else { return .unknown }
        if kill(pid, 0) != 0 && errno == ESRCH { return .gone }
        #if os(Linux)
        guard let fields = statFields(of: pid) else {
            return kill(pid, 0) != 0 && errno == ESRCH ? .gone : .unknown
        }
        if fields[0] == "Z" || fields[0] == "X" { return .gone }
        guard fields.count > 19, let started = UInt64(fields[19]) else { return .unknown }
        return .running(started: started)
        #elseif canImport(Darwin)
        guard let info = kinfo(of: pid) else { return .unknown }
        if Int32(info.kp_proc.p_stat) == SZOMB { return .gone }
        // `p_starttime` is a C macro for this union member, and Swift imports no such macro.
        let time = info.kp_proc.p_un.__p_starttime
        return .running(started: UInt64(time.tv_sec) * 1_000_000 + UInt64(time.tv_usec))
        #else
        return .unknown
        #endif
    }

    static func startTime(of pid: Int32) -> UInt64? {
        if case .running(let started) = state(of: pid) { return started }
        return nil
    }

    /// A process's command line, for messages naming it (Linux; nil elsewhere or when hidden).
    static func commandLine(of pid: Int32) -> String? {
        #if os(Linux)
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let first = words.first else { return nil }
        let program = first.split(separator: "/").last.map(String.init) ?? first
        let line = ([program] + words.dropFirst()).joined(separator: " ")
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
        #else
        return nil
        #endif
    }

    #if os(Linux)
    /// `/proc/<pid>/stat` from field 3 (state) on: the command name (field 2) may hold spaces
    /// and parentheses, so the fields start after the last `)`.
    private static func statFields(of pid: Int32) -> [Substring]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.isEmpty ? nil : fields
    }
    #elseif canImport(Darwin)
    private static func kinfo(of pid: Int32) -> kinfo_proc? {
        var info = kinfo_proc()
        var size = MemoryLayout<kinfo_proc>.stride
        var name: [Int32] = [CTL_KERN, KERN_PROC, KERN_PROC_PID, pid]
        guard sysctl(&name, 4, &info, &size, nil, 0) == 0, size > 0 else { return nil }
        return info
    }
    #endif
}
