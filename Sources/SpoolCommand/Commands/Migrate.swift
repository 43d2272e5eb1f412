import ArgumentParser
import Spool

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "TODO")

    @OptionGroup var spoolPath: SpoolPathOption

    func run() async throws {
        throw CleanExit.message("not yet implemented")
    }
}
