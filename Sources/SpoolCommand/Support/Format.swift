import Foundation
import Spool

/// Numbers for people: sizes, ages, tables.
enum Format {
    /// `512 B`, `1.5 KiB`, `12.0 MiB`.
    static func bytes(_ count: Int64) -> String {
        if count < 1024 { return "\(count) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: "%.1f %@", value, units[unit])
    }

    /// `850 ms`, `42 s`, `5 m 3 s`, `2 h 4 m`, `3 d 2 h`.
    static func age(seconds: Double) -> String {
        if seconds < 0 { return "in the future" }
        if seconds < 1 { return "\(Int(seconds * 1000)) ms" }
        let whole = Int(seconds)
        if whole < 60 { return "\(whole) s" }
        if whole < 3600 { return "\(whole / 60) m \(whole % 60) s" }
        if whole < 86400 { return "\(whole / 3600) h \(whole % 3600 / 60) m" }
        return "\(whole / 86400) d \(whole % 86400 / 3600) h"
    }

    /// A latency: `0.8 ms`, `250 ms`, `1.2 s`, `42 s`, then as ``age(seconds:)``.
    static func duration(seconds: Double) -> String {
        if seconds < 0.01 { return String(format: "%.1f ms", seconds * 1000) }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 10 { return String(format: "%.1f s", seconds) }
        return age(seconds: seconds)
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in
            rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0
        }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `--json` output: one JSON object on one line, keys in snake_case (`schema_version`,
    /// `oldest_pending_age_seconds`) and sorted, as `export` and `dlq list` write theirs. A
    /// command that prints several objects prints one per line.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
