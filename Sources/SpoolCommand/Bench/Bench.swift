import ArgumentParser

/// `spool bench …`: figures for BENCHMARKS.md. Benchmarks, never timed tests.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Spool on this machine (build with -c release).",
        discussion: """
            Figures for BENCHMARKS.md, each next to a baseline measured in the same run.

            Example:
              swift build -c release && .build/release/spool bench append --seconds 3
            """,
        subcommands: [BenchAppend.self, BenchLog.self, BenchForward.self, BenchDrain.self, BenchReceiver.self, BenchBacklog.self, BenchCorpus.self, BenchEncode.self]
    )
}
