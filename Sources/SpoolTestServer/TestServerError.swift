/// An error from ``TestHTTPServer``: what happened, as a ``Code``, and a message for the test log.
public struct TestServerError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a value a test can compare.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case timedOut, alreadyListening, shutDown
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A bounded wait ended before its condition held.
        public static let timedOut = Code(.timedOut)
        /// ``TestHTTPServer/restart()`` was called while the server was listening.
        public static let alreadyListening = Code(.alreadyListening)
        /// The server was shut down; it cannot listen or be waited on any more.
        public static let shutDown = Code(.shutDown)

        public var description: String {
            switch value {
            case .timedOut: "timed out"
            case .alreadyListening: "already listening"
            case .shutDown: "shut down"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A human message: what was expected and what was seen.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "TestServerError(\(code)): \(message)" }
}
