import Foundation
import Spool

// The crash tests' child: appends numbered entries to the spool given as the first argument
// in `committed` mode and writes each number to stdout once its append has returned.
// The parent kills it with SIGKILL at a random moment.

let arguments = CommandLine.arguments
guard arguments.count >= 3, let start = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: SpoolCrashChild SPOOL START\n".utf8))
    exit(2)
}
do {
    let spool = try SpoolStore(path: arguments[1])
    var number = start
    while true {
        try spool.append(LogEntry(timestamp: 1_732_873_200_000_000_000 + Int64(number), level: .info,
                                  topic: "crash.test", message: "entry \(number)", context: ["n": .int(Int64(number))]))
        let line = "\(number)\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
        number += 1
    }
} catch {
    FileHandle.standardError.write(Data("SpoolCrashChild: \(error)\n".utf8))
    exit(1)
}
