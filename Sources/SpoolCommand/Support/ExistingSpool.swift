import Foundation
import Spool

/// Opens a spool that must already exist, to change it (`dlq requeue|purge`, `sinks remove`):
/// never creates a file, and refuses a damaged one instead of moving it aside.
enum ExistingSpool {
    static func open(_ path: String) throws(SpoolError) -> SpoolStore {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw SpoolError(.io, "no spool at \(path): the file does not exist (nothing was created)")
        }
        var configuration = SpoolStore.Configuration()
        configuration.recoverCorruptFile = false
        return try SpoolStore(path: path, configuration: configuration)
    }
}
