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
