import CPowerCut
import CSQLite
import Foundation
import Spool

/// One recorded file-system operation on a spool's files, in the order it reached the file system.
struct FileEvent: Sendable {
    enum Kind: Int32, Sendable {
        case write = 1, truncate, sync, create, delete, directorySync, rename, link
    }
    var kind: Kind
    /// Index into ``Recording/files`` (-1 for a directory sync).
    var file: Int
    /// Rename, link: the new name's index into ``Recording/files``.
    var other: Int = -1
    /// Write: where; truncate: the new size.
    var offset: Int64
    var bytes: [UInt8]
}

/// What a workload did to its files, and what the store promised along the way.
struct Recording: Sendable {
    var events: [FileEvent]
    /// File names relative to the spool's directory.
    var files: [String]
    /// Promises, each with the number of events that had reached the file system when it was
    /// made: a cut at or after that count must keep it.
    var facts: [Fact]
}

/// A promise the store made to its caller.
enum Fact: Sendable {
    /// `append` (or, buffered, the `flush` after it) returned for this message.
    case appended(String, at: Int)
    /// A claim handed these ids and messages out (not a promise: a ledger, to account for
    /// entries a sink passed and the store then deleted).
    case claimed([(id: Int64, message: String)], at: Int)
    /// `acknowledge` returned: the sink passed everything through this id.
    case acknowledged(sink: String, through: Int64, at: Int)
    /// `acknowledge` returned with these entries dead-lettered for the sink.
    case deadLettered(sink: String, [(id: Int64, message: String)], at: Int)
    /// `requeueDeadLetters` returned (a marker: what it moved is checked through the ledgers).
    case requeued(count: Int, at: Int)
    /// `repair` returned: the repaired spool, holding these salvaged messages, is in place.
    case repaired(saved: [String], at: Int)
    /// The workload's damage is on disk: from here on the spool is the damaged one or, once
    /// repaired, the repaired one, never neither.
    case damaged(at: Int)

    var at: Int {
        switch self {
        case .appended(_, let at), .claimed(_, let at), .acknowledged(_, _, let at), .deadLettered(_, _, let at),
             .requeued(_, let at), .repaired(_, let at), .damaged(let at): at
        }
    }
}

/// The recorder in Tests/CPowerCut, for one directory at a time (it is process-wide).
enum Recorder {
    static let vfsName = "powercut"

    /// Records everything the store does to files under `directory` while `body` runs.
    static func record(_ directory: String, _ body: (FactLog) throws -> Void) rethrows -> Recording {
        precondition(powercut_register() == SQLITE_OK, "cannot register the powercut VFS")
        powercut_begin(directory)
        TestVFS.route(directory, through: vfsName)
        TestFileSystem.observe { change in
            switch change {
            case .created(let path): powercut_note_create(path)
            case .removed(let path): powercut_note_delete(path)
            case .renamed(let from, let to): powercut_note_rename(from, to)
            case .linked(let from, let to): powercut_note_link(from, to)
            case .directorySynced(let path): powercut_note_dirsync(path)
            }
        }
        let log = FactLog()
        defer {
            TestFileSystem.observe(nil)
            TestVFS.route(directory, through: nil)
            powercut_end()
        }
        try body(log)
        var events: [FileEvent] = []
        let count = powercut_event_count()
        events.reserveCapacity(count)
        for index in 0..<count {
            let raw = powercut_event_at(index)
            let bytes = raw.length > 0 ? Array(UnsafeBufferPointer(start: raw.data, count: Int(raw.length))) : []
            events.append(FileEvent(kind: FileEvent.Kind(rawValue: raw.kind)!, file: Int(raw.file), other: Int(raw.other), offset: raw.offset, bytes: bytes))
        }
        let files = (0..<powercut_file_count()).map { String(cString: powercut_file_name($0)) }
        return Recording(events: events, files: files, facts: log.facts)
    }

    /// Makes the next `count` syncs of recorded files fail (`SQLITE_IOERR_FSYNC`), as a failing
    /// disk's fsync does.
    static func failNextSyncs(_ count: Int) { powercut_fail_next_syncs(Int32(count)) }

    /// How many events have reached the file system so far.
    static var now: Int { powercut_event_count() }

    /// Writes `bytes` into the file at `path` by hand (a workload damaging it) and syncs it: a
    /// damage that is on disk before the workload goes on.
    static func damage(_ path: String, at offset: Int64, with bytes: [UInt8]) throws {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw PowerCutError("cannot open \(path) to damage it") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, bytes.count, off_t(offset)) }
        guard written == bytes.count, fsync(descriptor) == 0 else { throw PowerCutError("cannot damage \(path)") }
        bytes.withUnsafeBufferPointer { powercut_note_write(path, offset, $0.baseAddress, Int64(bytes.count)) }
        powercut_note_sync(path)
    }

    /// Planted fault: no directory sync after SQLite creates a WAL (SQLITE_DISABLE_DIRSYNC).
    static func skipDirectorySync(_ skip: Bool) { powercut_set_skip_dirsync(skip ? 1 : 0) }
}

/// Facts noted by a workload, from any thread.
final class FactLog: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Fact] = []

    func note(_ make: (Int) -> Fact) {
        lock.lock()
        // The count is read under the lock after the store returned: every event of the
        // promise is below it.
        list.append(make(Recorder.now))
        lock.unlock()
    }

    var facts: [Fact] {
        lock.lock()
        defer { lock.unlock() }
        return list
    }
}
