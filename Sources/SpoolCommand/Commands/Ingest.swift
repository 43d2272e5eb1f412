import ArgumentParser
import Spool

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest", abstract: "TODO")

    @OptionGroup var spoolPath: SpoolPathOption

    func run() async throws {
        throw CleanExit.message("not yet implemented")
    }
}
