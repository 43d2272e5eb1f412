import Spool

/// Newline-delimited JSON to any URL: one ``EntryJSON`` object per entry, each line ending in
/// `\n`, with `Content-Type: application/x-ndjson`. Classified by the general rule
/// (``ResponseTable/general``).
///
/// ```swift
/// let sink = NDJSONSink(configuration: .init(url: "https://logs.example.net/ingest"))
/// ```
///
/// Credentials (basic or bearer) are added by the transport from the sink's configuration in
/// the forwarder, never by the sink, so they never appear in a ``SinkRequest`` description.
package struct NDJSONSink: SinkProtocol {
    /// Where to send.
    package struct Configuration: Sendable, Hashable {
        /// The full URL every batch is POSTed to. No default.
        package var url: String

        /// Creates a configuration.
        /// - Parameter url: The full URL every batch is POSTed to.
        package init(url: String) {
            self.url = url
        }
    }

    package var configuration: Configuration

    /// Creates the sink.
    package init(configuration: Configuration) {
        self.configuration = configuration
    }

    package var kind: String { "http" }

    /// One line per entry, in id order, each ending in `\n`.
    package func encode(_ entries: ArraySlice<StoredEntry>) throws(SpoolError) -> SinkRequest? {
        var body = JSONWriter(capacity: entries.estimatedJSONBytes)
        // Through the slice's buffer, as LokiSink does.
        entries.withUnsafeBufferPointer { entries in
            for index in entries.indices {
                EntryJSON.write(entries[index], to: &body)
                body.append(byte: UInt8(ascii: "\n"))
            }
        }
        return SinkRequest(
            url: configuration.url,
            headers: [SinkRequest.Header("Content-Type", "application/x-ndjson")],
            body: body.bytes,
            allowsGzip: true
        )
    }

    /// The general rule: 2xx delivered, 408/429/5xx retry, 413 split, 401/403/404 pause,
    /// other 4xx rejected.
    package func classify(_ response: SinkResponse) -> Verdict {
        Verdict.standard(response)
    }
}
