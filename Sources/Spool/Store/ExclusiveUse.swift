import Foundation
import Synchronization

/// Proof that no other process has a spool open, held while it is moved aside or replaced.
///
/// SQLite's own locks say who has a file open. In WAL mode every connection holds a read lock
/// on the database file's shared-lock range (from its first read until it closes) and on the
/// `-shm` file's "dead man switch" byte (for as long as it has the shared memory mapped): a
/// `spool ingest`, a `spool forward`, an app logging, a `sqlite3` shell. A write lock over both
/// is granted only when no other process holds either, and while it is held a process that
/// opens the file meets SQLITE_BUSY, so nobody can start using the file between the check and
/// the move. When the lock is refused, `F_GETLK` names one holder's pid.
///
/// POSIX record locks belong to a process: they never conflict with this process's own, and
/// closing any descriptor of a file drops all of this process's locks on it, SQLite's included.
/// So this process's own use is told by ``OpenSpools`` (every open ``SpoolStore``), and the locks
/// are taken only while this process has no SQLite connection to the file.
package final class ExclusiveUse {
    private var descriptors: [Int32] = []

    /// SQLite's lock bytes in the database file: PENDING, RESERVED and the 510 SHARED bytes.
    static let databaseLocks: (start: Int64, length: Int64) = (0x4000_0000, 512)
    /// SQLite's locks in the `-shm` file (unix VFS): the eight WAL locks and the DMS byte (128).
    static let sharedMemoryLocks: (start: Int64, length: Int64) = (120, 9)

    private init() {}

    /// Takes exclusive use of the spool at `path`, or throws `.inUse` naming who has it open.
    /// - Parameter doing: What it is for, for the message ("setting it aside").
    static func take(_ path: String, doing: String) throws(SpoolError) -> ExclusiveUse {
        if OpenSpools.isOpenInThisProcess(path) {
            throw SpoolError(.inUse, "\(path) is open in this process (a SpoolStore keeps its connections until it is released): release it before \(doing); nothing was changed")
        }
        let use = ExclusiveUse()
        try use.lock(path, path: path, range: databaseLocks, doing: doing, required: true)
        try use.lock(path + "-shm", path: path, range: sharedMemoryLocks, doing: doing, required: false)
        return use
    }

    /// Gives the locks up (closing the descriptors). Called by `deinit` too.
    func release() {
        for descriptor in descriptors { close(descriptor) }
        descriptors = []
    }

    deinit { release() }

    private func lock(_ file: String, path: String, range: (start: Int64, length: Int64), doing: String, required: Bool) throws(SpoolError) {
        let descriptor = open(file, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT && !required { return }
            throw SpoolError(.io, "cannot open \(file) to make sure no other process uses it (\(String(cString: strerror(code)))); nothing was changed")
        }
        descriptors.append(descriptor)
        var request = Self.request(range)
        if fcntl(descriptor, F_SETLK, &request) == 0 { return }
        let code = errno
        guard code == EACCES || code == EAGAIN else {
            throw SpoolError(.io, "cannot lock \(file) to make sure no other process uses it (\(String(cString: strerror(code)))); nothing was changed")
        }
        var probe = Self.request(range)
        let holder: Int32? = fcntl(descriptor, F_GETLK, &probe) == 0 && probe.l_type != Int16(F_UNLCK) && probe.l_pid > 0 ? probe.l_pid : nil
        throw SpoolError(.inUse, "\(path) is open in another process (\(Self.describe(holder))): stop it before \(doing); nothing was changed")
    }

    private static func request(_ range: (start: Int64, length: Int64)) -> flock {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(range.start)
        request.l_len = off_t(range.length)
        return request
    }

    /// "pid 42: spool ingest --spool app.spool", or what can be said.
    static func describe(_ pid: Int32?) -> String {
        guard let pid else { return "its pid could not be read" }
        if let command = ProcessProbe.commandLine(of: pid) { return "pid \(pid): \(command)" }
        return "pid \(pid)"
    }
}

/// The spool files this process has open through a ``SpoolStore``, by device and inode, so
/// that setting a file aside or repairing it can refuse while this process uses it (POSIX
/// locks cannot tell: ``ExclusiveUse``).
package enum OpenSpools {
    struct FileKey: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private static let open = Mutex<[FileKey: Int]>([:])

    static func key(_ path: String) -> FileKey? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileKey(device: UInt64(truncatingIfNeeded: info.st_dev), inode: UInt64(truncatingIfNeeded: info.st_ino))
    }

    /// Counts the file as open until the registration is released.
    final class Registration: Sendable {
        let key: FileKey?

        init(_ path: String) {
            key = OpenSpools.key(path)
            if let key { OpenSpools.open.withLock { $0[key, default: 0] += 1 } }
        }

        deinit {
            guard let key else { return }
            OpenSpools.open.withLock { open in
                let count = (open[key] ?? 1) - 1
                open[key] = count > 0 ? count : nil
            }
        }
    }

    static func isOpenInThisProcess(_ path: String) -> Bool {
        guard let key = key(path) else { return false }
        return open.withLock { $0[key] != nil }
    }
}
