/// A snapshot of the test server's counters, taken at one instant.
///
/// In-flight requests are those whose head has arrived and whose response is not finished
/// (a hanging or held request stays in flight until its connection closes), which is what a
/// client's concurrency limit bounds.
public struct ServerStats: Sendable, Equatable {
    /// Complete requests received (head and body) since the server started.
    public var requestsReceived = 0
    /// Connections accepted since the server started, across restarts.
    public var connectionsAccepted = 0
    /// Connections open now.
    public var openConnections = 0
    /// The most connections open at once since the last ``TestHTTPServer/resetPeaks()``.
    public var peakOpenConnections = 0
    /// Requests in flight now.
    public var inFlightRequests = 0
    /// The most requests in flight at once since the last ``TestHTTPServer/resetPeaks()``.
    public var peakInFlightRequests = 0

    /// Creates zeroed counters.
    public init() {}
}
