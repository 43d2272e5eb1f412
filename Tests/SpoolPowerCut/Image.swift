import Foundation

/// A seeded generator (SplitMix64), so a run is repeated exactly from its seed.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a power cut after the first `cut` events leaves on disk (the model, docs/reliability.md):
/// - whatever a file had at its last sync survives;
/// - of its writes and truncations since, any subset survives (none, all, a prefix, or a
///   random subset in a random order), and the last one that lands may be torn: each 512-byte
///   sector of it old or new;
/// - of the directory's creations, deletions, renames and links since its last sync, a prefix
///   survives (journaling file systems commit directory changes in order; a rename is one
///   change): a file whose name was never synced may vanish, a deletion or rename may be undone;
/// - a file's bytes belong to the file, not its name: they survive under whichever names the
///   directory kept;
/// - the `-shm` file is never kept (SQLite rebuilds the wal-index from the WAL).
enum PowerCutImage {
    enum Strategy: CaseIterable { case none, all, prefix, subset }

    /// Writes the image into `directory` (which must exist and be empty).
    static func write(_ recording: Recording, cut: Int, into directory: String, random: inout SeededGenerator) throws {
        let events = recording.events
        // Files are inodes: a creation makes one, a rename or a link gives it another name, and
        // a file's writes and syncs belong to the inode its name held when they happened.
        // The directory: which inode each name held at the last directory sync, then a prefix of
        // the changes after it (a rename is one change: both names at once).
        var durable: [Int: Int] = [:]   // name -> inode
        var current: [Int: Int] = [:]
        var pending: [[(name: Int, inode: Int?)]] = []
        var inodeEvents: [Int: [Int]] = [:]
        var inodes = 0
        for index in 0..<cut {
            let event = events[index]
            switch event.kind {
            case .create:
                current[event.file] = inodes
                pending.append([(event.file, inodes)])
                inodes += 1
            case .delete:
                current[event.file] = nil
                pending.append([(event.file, nil)])
            case .rename:
                let inode = current[event.file]
                current[event.other] = inode
                current[event.file] = nil
                pending.append([(event.other, inode), (event.file, nil)])
            case .link:
                current[event.other] = current[event.file]
                pending.append([(event.other, current[event.file])])
            case .directorySync:
                durable = current
                pending.removeAll()
            case .write, .truncate, .sync:
                if let inode = current[event.file] { inodeEvents[inode, default: []].append(index) }
            }
        }
        var names = durable
        let surviving = pending.isEmpty ? 0 : Int.random(in: 0...pending.count, using: &random)
        for change in pending.prefix(surviving) { for (name, inode) in change { names[name] = inode } }

        // Each inode's bytes are decided once, whatever names it has.
        var contents: [Int: [UInt8]] = [:]
        for (name, inode) in names.sorted(by: { $0.key < $1.key }) {
            let file = recording.files[name]
            if file.hasSuffix("-shm") { continue }
            if contents[inode] == nil { contents[inode] = content(of: inodeEvents[inode] ?? [], in: events, random: &random) }
            let path = directory + "/" + file
            guard FileManager.default.createFile(atPath: path, contents: Data(contents[inode]!), attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
    }

    /// What survives of one file: everything up to its last sync, then a subset of the rest.
    private static func content(of mine: [Int], in events: [FileEvent], random: inout SeededGenerator) -> [UInt8] {
        let lastSync = mine.lastIndex { events[$0].kind == .sync }
        var content: [UInt8] = []
        let synced = lastSync.map { Array(mine[..<$0]) } ?? []
        for index in synced { apply(events[index], to: &content) }
        var unsynced = (lastSync.map { Array(mine[($0 + 1)...]) } ?? mine).filter { events[$0].kind != .sync }
        switch Strategy.allCases.randomElement(using: &random)! {
        case .none: unsynced = []
        case .all: break
        case .prefix: unsynced = Array(unsynced.prefix(Int.random(in: 0...unsynced.count, using: &random)))
        case .subset: unsynced = unsynced.filter { _ in Bool.random(using: &random) }.shuffled(using: &random)
        }
        for (position, index) in unsynced.enumerated() {
            let isLast = position == unsynced.count - 1
            if isLast, events[index].kind == .write, Bool.random(using: &random) {
                tear(events[index], into: &content, random: &random)
            } else {
                apply(events[index], to: &content)
            }
        }
        return content
    }

    private static func apply(_ event: FileEvent, to content: inout [UInt8]) {
        switch event.kind {
        case .write:
            let end = Int(event.offset) + event.bytes.count
            if content.count < end { content.append(contentsOf: repeatElement(0, count: end - content.count)) }
            content.replaceSubrange(Int(event.offset)..<end, with: event.bytes)
        case .truncate:
            let size = Int(event.offset)
            if content.count > size { content.removeSubrange(size...) } else {
                content.append(contentsOf: repeatElement(0, count: size - content.count))
            }
        default: break
        }
    }

    /// A torn write: each 512-byte sector of it is new or old (zeros past the old end).
    private static func tear(_ event: FileEvent, into content: inout [UInt8], random: inout SeededGenerator) {
        let end = Int(event.offset) + event.bytes.count
        if content.count < end { content.append(contentsOf: repeatElement(0, count: end - content.count)) }
        var start = 0
        while start < event.bytes.count {
            let stop = min(event.bytes.count, start + 512)
            if Bool.random(using: &random) {
                content.replaceSubrange((Int(event.offset) + start)..<(Int(event.offset) + stop), with: event.bytes[start..<stop])
            }
            start = stop
        }
    }
}
