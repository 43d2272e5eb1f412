import Foundation

// Usage: EmbedMigrationsTool OUTPUT.swift migrations/0001_x.sql migrations/0002_y.sql ...
// Writes `EmbeddedMigrations.files`: (version, name, sql) for each file, in version order.
// The SQL is embedded as base64 so that no escaping rule of Swift literals can alter it.

let arguments = CommandLine.arguments.dropFirst()
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedMigrationsTool OUTPUT FILE...\n".utf8))
    exit(2)
}

var rows: [(Int, String)] = []
var seen: [Int: String] = [:]
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let name = url.deletingPathExtension().lastPathComponent
    guard let underscore = name.firstIndex(of: "_"), let version = Int(name[..<underscore]), version > 0 else {
        FileHandle.standardError.write(Data("error: \(path): a migration is named NNNN_name.sql\n".utf8))
        exit(1)
    }
    if let other = seen[version] {
        FileHandle.standardError.write(Data("error: \(path): version \(version) also used by \(other)\n".utf8))
        exit(1)
    }
    seen[version] = name
    let data = try Data(contentsOf: url)
    rows.append((version, "        (\(version), \"\(name)\", \"\(data.base64EncodedString())\"),"))
}
let versions = seen.keys.sorted()
if versions != Array(1..<(versions.count + 1)) {
    FileHandle.standardError.write(Data("error: migration versions must be 1, 2, 3... without gaps: \(versions)\n".utf8))
    exit(1)
}
rows.sort { $0.0 < $1.0 }
let source = """
    // Generated at build time by EmbedMigrationsTool from migrations/*.sql. Do not edit.
    enum EmbeddedMigrations {
        /// (version, file name without extension, base64 of the file's bytes), in version order.
        static let files: [(version: Int, name: String, base64: String)] = [
    \(rows.map(\.1).joined(separator: "\n"))
        ]
    }

    """
let output = URL(fileURLWithPath: outputPath)
if (try? String(contentsOf: output, encoding: .utf8)) != source {
    try source.write(to: output, atomically: true, encoding: .utf8)
}
