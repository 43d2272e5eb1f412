/// What the test server does with one request, as decided by a ``Behaviour``.
///
/// Most tests use the ready-made behaviours (``Behaviour/status(_:headers:body:)``,
/// ``Behaviour/hang``, ...); a custom ``Behaviour`` returns an `Action` for each request.
///
/// ```swift
/// server.behaviour = Behaviour { request in
///     request.path == "/health" ? .respond(Response(status: 200)) : .hang
/// }
/// ```
public indirect enum Action: Sendable {
    /// Sends a complete response.
    case respond(Response)
    /// Sends the head and the first `sentBytes` bytes of the body (the head announces the whole
    /// body), then resets the connection (`SO_LINGER` 0, so the client sees `ECONNRESET`).
    case resetMidResponse(Response, sentBytes: Int)
    /// Reads the request and never answers; the connection stays open until the client closes it
    /// or the server stops.
    case hang
    /// Closes the connection without answering (an orderly FIN, not a reset).
    case closeConnection
    /// Sends the whole response, head included, `bytesPerWrite` bytes at a time with `interval`
    /// between writes.
    case dribble(Response, bytesPerWrite: Int, interval: Duration)
    /// Sends the head, then a chunked body that never ends: chunks of `chunkSize` bytes, each
    /// written once the previous one reached the socket, until the client closes the connection,
    /// the server stops, or ``Action/endlessBodySafetyCap`` bytes were sent (then the connection
    /// is closed without the final chunk, so the response is never complete).
    case endlessBody(status: Int, headers: [(name: String, value: String)], chunkSize: Int)
    /// Waits `delay` on the connection's event loop, then carries out the action.
    case delayed(Duration, Action)
    /// Waits until `gate` is open, then carries out the action.
    case held(Gate, Action)

    /// The most bytes an ``endlessBody(status:headers:chunkSize:)`` sends before giving up on a
    /// client that never stops reading: 256 MiB.
    public static let endlessBodySafetyCap = 256 << 20
}
