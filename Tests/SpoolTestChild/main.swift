import Foundation
import Spool

// A second process for the tests. Modes:
//   append SPOOL START [CHECKPOINT_PAGES [PER_SECOND]]
//                         appends numbered entries ("entry N", context {"n": N}) in committed
//                         mode forever, writing N to stdout after each append returned; with a
//                         checkpoint threshold in pages (default 1000) and at most PER_SECOND
//                         appends a second (default: as fast as it can).
//   lease SPOOL SINK OWNER SECONDS
//                         takes the sink's lease, prints "leased", then waits for stdin to close;
//                         OWNER "-" is this process's `LeaseOwner.thisProcess("test child")`.
//   inspect SPOOL         opens the spool read-only (as `spool tail` does), prints "open", then
//                         waits for stdin to close.
// The parent kills it with SIGKILL or closes its stdin.

func say(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("SpoolTestChild: \(text)\n".utf8))
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "append" where (3...5).contains(arguments.count):
        guard let start = Int64(arguments[2]) else { fail("START must be an integer") }
        var configuration = SpoolStore.Configuration()
        if arguments.count > 3 {
            guard let pages = Int(arguments[3]), pages > 0 else { fail("CHECKPOINT_PAGES must be a positive integer") }
            configuration.checkpointPages = pages
        }
        var pause: Double?
        if arguments.count > 4 {
            guard let rate = Double(arguments[4]), rate > 0 else { fail("PER_SECOND must be a positive number") }
            pause = 1 / rate
        }
        let spool = try SpoolStore(path: arguments[1], configuration: configuration)
        var number = start
        while true {
            if let pause { Thread.sleep(forTimeInterval: pause) }  // the soak's steady rate, not synchronization
            try spool.append(LogEntry(timestamp: 1_732_873_200_000_000_000 + number, level: .info,
                                      topic: "crash.test", message: "entry \(number)", context: ["n": .int(number)]))
            say("\(number)")
            number += 1
        }
    case "lease" where arguments.count == 5:
        guard let seconds = Int64(arguments[4]) else { fail("SECONDS must be an integer") }
        let spool = try SpoolStore(path: arguments[1])
        try spool.registerSink(arguments[2])
        let owner = arguments[3] == "-" ? LeaseOwner.thisProcess("test child") : arguments[3]
        try spool.acquireLease(sink: arguments[2], owner: owner, duration: .seconds(seconds))
        say("leased")
        _ = FileHandle.standardInput.readDataToEndOfFile()
    case "inspect" where arguments.count == 2:
        let inspector = try SpoolInspector(path: arguments[1])
        _ = try inspector.lastEntries(1, matching: EntryFilter())
        say("open")
        _ = FileHandle.standardInput.readDataToEndOfFile()
        withExtendedLifetime(inspector) {}
    case "open" where arguments.count == 2:
        // The file open and nothing read, as a `sqlite3` shell after `.open` or `SELECT 1`:
        // no SQLite lock says so.
        let descriptor = open(arguments[1], O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { fail("cannot open \(arguments[1])") }
        say("open")
        _ = FileHandle.standardInput.readDataToEndOfFile()
        close(descriptor)
    default:
        fail("usage: SpoolTestChild append SPOOL START [CHECKPOINT_PAGES [PER_SECOND]] | lease SPOOL SINK OWNER SECONDS | inspect SPOOL | open SPOOL")
    }
} catch {
    fail("\(error)")
}
