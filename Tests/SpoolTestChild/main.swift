import Foundation
import Spool

// A second process for the tests. Modes:
//   append SPOOL START    appends numbered entries ("entry N", context {"n": N}) in committed
//                         mode forever, writing N to stdout after each append returned.
//   lease SPOOL SINK OWNER SECONDS
//                         takes the sink's lease, prints "leased", then waits for stdin to close.
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
    case "append" where arguments.count == 3:
        guard let start = Int64(arguments[2]) else { fail("START must be an integer") }
        let spool = try SpoolStore(path: arguments[1])
        var number = start
        while true {
            try spool.append(LogEntry(timestamp: 1_732_873_200_000_000_000 + number, level: .info,
                                      topic: "crash.test", message: "entry \(number)", context: ["n": .int(number)]))
            say("\(number)")
            number += 1
        }
    case "lease" where arguments.count == 5:
        guard let seconds = Int64(arguments[4]) else { fail("SECONDS must be an integer") }
        let spool = try SpoolStore(path: arguments[1])
        try spool.registerSink(arguments[2])
        try spool.acquireLease(sink: arguments[2], owner: arguments[3], duration: .seconds(seconds))
        say("leased")
        _ = FileHandle.standardInput.readDataToEndOfFile()
    default:
        fail("usage: SpoolTestChild append SPOOL START | lease SPOOL SINK OWNER SECONDS")
    }
} catch {
    fail("\(error)")
}
