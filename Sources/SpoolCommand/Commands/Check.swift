import ArgumentParser
import Spool

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "TODO")

    @OptionGroup var spoolPath: SpoolPathOption

    func run() async throws {
        throw CleanExit.message("not yet implemented")
    }
}
