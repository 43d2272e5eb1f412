/// An error from Spool: what happened, a stable ``Code`` to switch on, and, when SQLite was
/// involved, its extended result code.
///
/// The message says what to do where there is something to do. It never contains a secret.
public struct SpoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable identifier for the kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case sqlite, sqliteTooOld, notASpool, corrupt, newerSchema, migrationFailed
            case spoolFull, diskFull, leaseHeld, notLeaseHolder, unknownSink, invalidArgument
            case invalidTimestamp, invalidInput, io, closed, configuration, inUse
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Any other SQLite failure; ``SpoolError/sqliteCode`` says which.
        public static let sqlite = Code(.sqlite)
        /// The linked SQLite library is older than 3.31.
        public static let sqliteTooOld = Code(.sqliteTooOld)
        /// The file is a SQLite database that is not a spool (tables of another application).
        public static let notASpool = Code(.notASpool)
        /// The file is damaged or not a database at all.
        public static let corrupt = Code(.corrupt)
        /// The spool was written by a newer Spool; nothing was changed.
        public static let newerSchema = Code(.newerSchema)
        /// A migration failed and was rolled back.
        public static let migrationFailed = Code(.migrationFailed)
        /// The spool reached its size bound and its overflow policy is `reject`.
        public static let spoolFull = Code(.spoolFull)
        /// The disk (or the database's page limit) is full.
        public static let diskFull = Code(.diskFull)
        /// Another owner holds the sink's lease.
        public static let leaseHeld = Code(.leaseHeld)
        /// An acknowledgement came from an owner that no longer holds the lease.
        package static let notLeaseHolder = Code(.notLeaseHolder)
        /// No sink of that name is registered.
        package static let unknownSink = Code(.unknownSink)
        /// An argument is out of its valid range.
        package static let invalidArgument = Code(.invalidArgument)
        /// A timestamp could not be turned into Unix nanoseconds without guessing.
        package static let invalidTimestamp = Code(.invalidTimestamp)
        /// Input that could not be parsed (a malformed line, a bad level).
        package static let invalidInput = Code(.invalidInput)
        /// A file-system operation failed.
        public static let io = Code(.io)
        /// The spool was closed.
        public static let closed = Code(.closed)
        /// A configuration (file or value) is invalid, or one of its credentials cannot be read.
        /// The message names the key path and line, never a secret's value.
        public static let configuration = Code(.configuration)
        /// Another process has the spool open (or this process does, through another store), so
        /// it was not moved aside or replaced. The message names the process where it can.
        public static let inUse = Code(.inUse)

        public var description: String { value.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation, safe to print.
    public var message: String
    /// SQLite's extended result code, when SQLite reported the failure.
    public var sqliteCode: Int32?

    /// Creates an error.
    package init(_ code: Code, _ message: String, sqliteCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.sqliteCode = sqliteCode
    }

    public var description: String {
        if let sqliteCode { return "\(message) [\(code), SQLite code \(sqliteCode)]" }
        return "\(message) [\(code)]"
    }
}
