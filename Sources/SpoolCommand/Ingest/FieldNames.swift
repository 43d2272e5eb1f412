// tools/fuzz compiles this file in a package of its own, which reaches Spool's package
// declarations as a test does (built with -enable-testing and -DSPOOL_FUZZ).
#if SPOOL_FUZZ
@testable import Spool
@testable import SpoolForwarding
#else
import Spool
import SpoolForwarding
#endif

/// The field names a structured line is read with, in the order they are tried: the configured
/// ones (`ingest.fields` in the configuration, `--field` on the command line), then these.
///
/// | part | built-in names | written by |
/// |---|---|---|
/// | message | `message`, `msg`, `event`, `@m`, `@mt`, `MESSAGE`, `log` | most; pino, zap, slog, logrus, logfmt; structlog; Serilog CLEF; journald; Docker |
/// | time | `timestamp`, `time`, `ts`, `@timestamp`, `@t`, `asctime`, `__REALTIME_TIMESTAMP` | |
/// | level | `level`, `lvl`, `severity`, `levelname`, `log.level`, `@l`, `PRIORITY` | |
/// | topic | `topic`, `logger` | |
struct FieldNames: Sendable, Hashable {
    static let builtInMessage = ["message", "msg", "event", "@m", "@mt", "MESSAGE", "log"]
    static let builtInTime = ["timestamp", "time", "ts", "@timestamp", "@t", "asctime", "__REALTIME_TIMESTAMP"]
    static let builtInLevel = ["level", "lvl", "severity", "levelname", "log.level", "@l", "PRIORITY"]
    static let builtInTopic = ["topic", "logger"]

    var message: [String]
    var time: [String]
    var level: [String]
    var topic: [String]

    init(extra: SpoolConfiguration.Ingest.Fields) {
        func merged(_ first: [String], _ then: [String]) -> [String] {
            var seen = Set<String>()
            return (first + then).filter { seen.insert($0).inserted }
        }
        message = merged(extra.message, Self.builtInMessage)
        time = merged(extra.time, Self.builtInTime)
        level = merged(extra.level, Self.builtInLevel)
        topic = merged(extra.topic, Self.builtInTopic)
    }
}
