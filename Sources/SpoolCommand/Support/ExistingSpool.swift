import Foundation
import Spool

/// Spools that must already exist. Reading commands (`stats`, `tail`, `export`, `dlq`, `sinks`,
/// `check`, `forward` without `--stdin`) never create a spool: a mistyped path is an error, not
/// a new empty spool that has nothing to say.
enum ExistingSpool {
    /// Opens a spool that must already exist, to change it (`dlq requeue|purge`, `sinks
    /// remove`): never creates a file, and refuses a damaged one instead of moving it aside.
    static func open(_ path: String) throws(SpoolError) -> SpoolStore {
        try requireFile(path)
        var configuration = SpoolStore.Configuration()
        configuration.recoverCorruptFile = false
        return try SpoolStore(path: path, configuration: configuration)
    }

    /// Throws `.io` unless a file (not a directory) exists at `path`.
    static func requireFile(_ path: String) throws(SpoolError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw SpoolError(.io, "no spool at \(path): the file does not exist (nothing was created)")
        }
        if isDirectory.boolValue {
            throw SpoolError(.io, "\(path) is a directory: give the spool's file path, for example \(path)/app.spool")
        }
    }
}
