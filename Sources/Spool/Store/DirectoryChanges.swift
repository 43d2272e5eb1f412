import Foundation
import Synchronization

/// What the spool does to its directory outside SQLite: creating its file, setting a damaged one
/// aside, swapping in a repaired one, and the directory syncs that make such changes survive a
/// power cut. SQLite syncs the directory itself only after creating a WAL or journal; a rename or
/// a link is on disk only once its directory is synced.
///
/// Every such change goes through here, so the power-cut simulator sees each when it happens
/// (``TestFileSystem``).
package enum DirectoryChanges {
    /// Creates `path` if it does not exist (mode `mode`).
    /// - Returns: 0, or the `errno` of the failure (never `EEXIST`).
    static func createIfMissing(_ path: String, mode: mode_t) -> Int32 {
        let descriptor = Foundation.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        if descriptor >= 0 {
            close(descriptor)
            TestFileSystem.note(.created(path))
            return 0
        }
        let code = errno
        return code == EEXIST ? 0 : code
    }

    /// `rename(2)`: `to` is replaced atomically. - Returns: 0, or the `errno` of the failure.
    @discardableResult
    static func rename(_ from: String, _ to: String) -> Int32 {
        guard Foundation.rename(from, to) == 0 else { return errno }
        TestFileSystem.note(.renamed(from, to))
        return 0
    }

    /// `link(2)`: a second name for the same file. - Returns: 0, or the `errno` of the failure.
    static func link(_ from: String, _ to: String) -> Int32 {
        guard Foundation.link(from, to) == 0 else { return errno }
        TestFileSystem.note(.linked(from, to))
        return 0
    }

    /// `unlink(2)`, where the file exists.
    static func remove(_ path: String) {
        guard unlink(path) == 0 else { return }
        TestFileSystem.note(.removed(path))
    }

    /// Syncs the directory holding `path`, so the names created, renamed or removed in it so far
    /// survive a power cut. `fsync` of a directory is how POSIX says it (Apple platforms too:
    /// `F_FULLFSYNC` is for a file's data, and HFS+/APFS journal directory changes in order).
    /// - Throws: `.io` when the directory cannot be opened or synced.
    static func syncDirectory(of path: String) throws(SpoolError) {
        let directory = SpoolFile.parentDirectory(of: path)
        let descriptor = Foundation.open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw SpoolError(.io, "cannot open the directory \(directory) to sync it: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw SpoolError(.io, "cannot sync the directory \(directory): \(String(cString: strerror(errno)))")
        }
        TestFileSystem.note(.directorySynced(directory))
    }
}

/// Test-only: an observer of ``DirectoryChanges`` (the power-cut simulator's recorder,
/// Tests/SpoolPowerCut). Nothing observes outside tests.
package enum TestFileSystem {
    /// One change, with full paths as the store spelled them.
    package enum Change: Sendable {
        case created(String)
        case renamed(String, String)
        case linked(String, String)
        case removed(String)
        case directorySynced(String)
    }

    private static let observer = Mutex<(@Sendable (Change) -> Void)?>(nil)

    /// Sets (or, with nil, removes) the one observer; it is called after each change, on the
    /// thread that made it.
    package static func observe(_ handler: (@Sendable (Change) -> Void)?) {
        observer.withLock { $0 = handler }
    }

    static func note(_ change: Change) {
        guard let handler = observer.withLock({ $0 }) else { return }
        handler(change)
    }
}
