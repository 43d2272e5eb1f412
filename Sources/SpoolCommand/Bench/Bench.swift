import ArgumentParser

/// `spool bench …`: figures for BENCHMARKS.md. Benchmarks, never timed tests.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Spool on this machine (build with -c release).",
        subcommands: [BenchAppend.self, BenchLog.self, BenchForward.self, BenchDrain.self, BenchReceiver.self]
    )
}
