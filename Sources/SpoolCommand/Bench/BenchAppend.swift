import ArgumentParser
import Spool

struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "append", abstract: "TODO")
    func run() async throws {}
}
