/// The seven levels of swift-log, from least to most severe.
public enum LogLevel: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Step-by-step detail, usually off.
    case trace
    /// What a developer needs to debug.
    case debug
    /// Normal operation worth keeping: the default minimum level.
    case info
    /// A normal but significant event.
    case notice
    /// Something unexpected that the program handled.
    case warning
    /// A failure of one operation.
    case error
    /// A failure that needs someone now: the program may not be able to go on.
    case critical

    /// Parses a level name, case-insensitively, accepting `warn` for ``warning`` and `fatal`
    /// for ``critical`` as other tools spell them.
    package init?(parsing text: some StringProtocol) {
        switch text.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning", "warn": self = .warning
        case "error": self = .error
        case "critical", "fatal": self = .critical
        default: return nil
        }
    }

    /// The level whose raw value is exactly `bytes` (a stored `level` column), without making
    /// a `String` of them: a claim reads one per entry.
    package init?(rawValueUTF8 bytes: UnsafeBufferPointer<UInt8>) {
        let (candidate, spelling): (LogLevel, StaticString)
        switch (bytes.count, bytes.first) {
        case (4, _): (candidate, spelling) = (.info, "info")
        case (5, UInt8(ascii: "t")): (candidate, spelling) = (.trace, "trace")
        case (5, UInt8(ascii: "d")): (candidate, spelling) = (.debug, "debug")
        case (5, _): (candidate, spelling) = (.error, "error")
        case (6, _): (candidate, spelling) = (.notice, "notice")
        case (7, _): (candidate, spelling) = (.warning, "warning")
        case (8, _): (candidate, spelling) = (.critical, "critical")
        default: return nil
        }
        // Byte buffers compared, not a `String`'s UTF-8 view (which cost ~700 instructions).
        guard spelling.withUTF8Buffer({ $0.hasSameBytes(as: bytes) }) else { return nil }
        self = candidate
    }

    /// Position in severity order, 0 (trace) to 6 (critical).
    @inlinable
    package var severity: Int {
        switch self {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .notice: 3
        case .warning: 4
        case .error: 5
        case .critical: 6
        }
    }

    @inlinable
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.severity < rhs.severity }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether `other` holds the same bytes. For the few bytes of a level or a schema, a loop
    /// costs a fifth of `elementsEqual`'s iterators (callgrind: 92 instructions a comparison).
    @inline(__always)
    package func hasSameBytes(as other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard count == other.count else { return false }
        for index in 0..<count where self[index] != other[index] { return false }
        return true
    }
}
