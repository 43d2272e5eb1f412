import ArgumentParser
import Spool

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "TODO")

    @OptionGroup var spoolPath: SpoolPathOption

    func run() async throws {
        throw CleanExit.message("not yet implemented")
    }
}
