// One method per level, as swift-log offers them. Each is `log(_:_:topic:context:)` with the
// level filled in; the message and context stay lazy.
extension SpoolLogger {
    /// Logs at `trace`: the finest detail, normally off.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func trace(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.trace, message(), topic: topic, context: context())
    }

    /// Logs at `debug`: detail for whoever debugs this code.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func debug(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.debug, message(), topic: topic, context: context())
    }

    /// Logs at `info`: what the program does, in normal operation.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func info(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.info, message(), topic: topic, context: context())
    }

    /// Logs at `notice`: normal but significant; never sampled.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func notice(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.notice, message(), topic: topic, context: context())
    }

    /// Logs at `warning`: something is wrong but handled; never sampled.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func warning(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.warning, message(), topic: topic, context: context())
    }

    /// Logs at `error`: an operation failed; never sampled.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func error(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.error, message(), topic: topic, context: context())
    }

    /// Logs at `critical`: the program cannot go on as intended; never sampled.
    /// - Parameters:
    ///   - message: The message, evaluated only if the entry is kept.
    ///   - topic: Appended to this logger's topic; nil for the logger's own topic.
    ///   - context: Structured context, evaluated only if the entry is kept.
    public func critical(_ message: @autoclosure () -> String, topic: String? = nil, context: @autoclosure () -> [String: JSONValue]? = nil) {
        log(.critical, message(), topic: topic, context: context())
    }
}
