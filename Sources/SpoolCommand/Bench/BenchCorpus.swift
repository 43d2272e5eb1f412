import ArgumentParser
import Foundation

/// `spool bench corpus`: the benchmarks' corpus as lines on stdout, for `spool ingest`,
/// `spool forward --stdin` and `tools/compare-syslog-ng`.
struct BenchCorpus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Print the benchmarks' corpus of realistic log lines (logfmt, JSON, non-ASCII, 50–2,000 bytes).",
        discussion: """
            The same lines every time for the same --seed. Each carries its sequence number \
            (seq=N or "seq":N, from 0), which `spool bench receiver` checks.

            Example:
              spool bench corpus --entries 1000000 > corpus.log
            """
    )

    @Option(help: "Lines to print.") var entries = 1_000_000
    @Option(help: "Seed of the generator.") var seed: UInt64 = 0x5eed

    func run() throws {
        var corpus = Corpus(seed: seed)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        for seq in 0..<entries {
            var line = corpus.item(seq: seq).line
            line.withUTF8 { buffer.append(contentsOf: $0) }
            buffer.append(UInt8(ascii: "\n"))
            if buffer.count >= 1 << 20 {
                try Self.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try Self.write(buffer)
    }

    private static func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(1, $0.baseAddress, $0.count) }
            guard written > 0 else { throw BenchFailure(message: "cannot write to stdout: errno \(errno)") }
            offset += written
        }
    }
}
