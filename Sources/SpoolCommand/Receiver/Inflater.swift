import CZlib

/// Streaming gzip inflation through a fixed 64 KiB buffer, the input never held whole: the one
/// gzip decoder of `spool` (its ``Receiver``). Encoding has one place too: the transport's
/// libdeflate `Gzip`.
final class Inflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 64 << 10)
    private let initialized: Bool
    private var failed = false
    /// Whether the input so far ends exactly at the end of a gzip (or zlib) member.
    private var ended = false

    init() {
        // 15 + 32: accept a gzip or zlib header.
        initialized = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        failed = !initialized
    }

    deinit { if initialized { inflateEnd(&stream) } }

    /// Whether the input so far was not valid gzip (or zlib).
    var hasFailed: Bool { failed }

    /// Whether the input so far is whole: valid, and ending where a member ends. A body cut
    /// short inflates without an error but is not complete.
    var isComplete: Bool { !failed && ended }

    func inflate(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard !failed, let base = input.baseAddress, !input.isEmpty else { return }
        // A new member after one that ended at the end of the last input.
        if ended { inflateReset(&stream) }
        ended = false
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        output.withUnsafeMutableBytes { out in
            while true {
                stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                let code = CZlib.inflate(&stream, Z_NO_FLUSH)
                let produced = out.count - Int(stream.avail_out)
                if produced > 0 { body(UnsafeRawBufferPointer(rebasing: out[..<produced])) }
                if code == Z_STREAM_END {
                    // Another gzip member may follow.
                    if stream.avail_in == 0 { ended = true; break }
                    inflateReset(&stream)
                    continue
                }
                if code != Z_OK { failed = code != Z_BUF_ERROR; break }
                if stream.avail_in == 0 && stream.avail_out != 0 { break }
            }
        }
    }
}
