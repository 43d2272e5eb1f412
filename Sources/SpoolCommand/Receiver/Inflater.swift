import CDeflate

/// gzip decompression of a whole request body with libdeflate: the one gzip decoder of `spool`
/// (its ``Receiver``). Encoding has one place too: the transport's `Gzip` (ISA-L at level 1, the
/// default, so the bench's bodies are decoded by another library than the one that made them).
///
/// The connection collects a body's compressed bytes as they arrive and hands them over once it
/// has ended; they are decompressed at once, member after member. libdeflate decodes a whole
/// buffer about twice as fast as zlib's streaming `inflate`, and its CRC-32 is several times
/// faster: zlib was 57 % of the receiver's CPU in a 1M drain, on the two cores the forwarder
/// being measured runs on (BENCHMARKS.md, "Session 13").
enum Inflater {
    /// Why a body did not inflate.
    enum Failure: Error, Equatable {
        /// Not gzip, corrupt, or cut short.
        case invalid
        /// More than the limit once inflated.
        case tooLarge
    }

    /// Decompresses every gzip member of `compressed`, which must end exactly where its last
    /// member ends, into at most `limit` bytes.
    static func inflate(_ compressed: [UInt8], limit: Int) -> Result<[UInt8], Failure> {
        guard !compressed.isEmpty, let decompressor = libdeflate_alloc_decompressor() else { return .failure(.invalid) }
        defer { libdeflate_free_decompressor(decompressor) }
        // A member's last four bytes give its size modulo 2^32: for the usual single member, the
        // output's exact size. The sender writes them, so the first guess is also capped by what
        // deflate can reach from this input (about 1032:1).
        let lastSize = compressed.count >= 18 ? compressed.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) } : 0
        var output = [UInt8](repeating: 0, count: min(limit, max(4096, min(lastSize, compressed.count * 1032))))
        var consumed = 0
        var produced = 0
        while consumed < compressed.count {
            var memberIn = 0
            var memberOut = 0
            let result = compressed.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { out in
                    libdeflate_gzip_decompress_ex(
                        decompressor, input.baseAddress! + consumed, input.count - consumed,
                        out.baseAddress! + produced, out.count - produced, &memberIn, &memberOut)
                }
            }
            switch result {
            case LIBDEFLATE_SUCCESS:
                consumed += memberIn
                produced += memberOut
            case LIBDEFLATE_INSUFFICIENT_SPACE:
                guard output.count < limit else { return .failure(.tooLarge) }
                output.append(contentsOf: repeatElement(0, count: min(limit, output.count * 2) - output.count))
            default:
                return .failure(.invalid)
            }
        }
        output.removeSubrange(produced...)
        return .success(output)
    }
}
