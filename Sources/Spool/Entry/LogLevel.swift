/// The seven levels of swift-log, from least to most severe.
public enum LogLevel: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case trace, debug, info, notice, warning, error, critical

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
