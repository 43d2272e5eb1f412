import Foundation

/// Which other processes have a spool's files open, for an error that says who holds a lock.
///
/// Read from `/proc/PID/fd` (Linux), never by opening the spool's files: closing a descriptor
/// of a file drops every POSIX lock this process holds on it, SQLite's included.
enum FileHolders {
    /// "pid 42 (sqlite3)" for up to three other processes with `path`, its `-wal` or its `-shm`
    /// open; nil when none is found (or the system does not say). The program's name only, not
    /// its command line: another program's arguments may hold a secret.
    static func describe(_ path: String) -> String? {
        #if os(Linux)
        let files = Set([path, path + "-wal", path + "-shm"].map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path })
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        var holders: [String] = []
        for entry in entries.sorted() {
            guard holders.count < 3, let pid = Int32(entry), pid != getpid(),
                  let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            let holds = descriptors.contains { descriptor in
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")).map(files.contains) ?? false
            }
            guard holds else { continue }
            let name = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            holders.append(name.map { "pid \(pid) (\($0))" } ?? "pid \(pid)")
        }
        return holders.isEmpty ? nil : holders.joined(separator: "; ")
        #else
        return nil
        #endif
    }
}
