import CDeflate

/// gzip decompression of a whole request body with libdeflate: the one gzip decoder of `spool`
/// (its ``Receiver``). Encoding has one place too: the transport's libdeflate `Gzip`.
///
/// The body's compressed bytes are collected as they arrive (``append(_:)``) and decompressed
/// at once when it has ended (``inflate()``), member after member. libdeflate decodes a whole
/// buffer about twice as fast as zlib's streaming `inflate`, and its CRC-32 is several times
/// faster: zlib was 57 % of the receiver's CPU in a 1M drain, on the two cores the forwarder
/// being measured runs on (BENCHMARKS.md, "Session 13").
final class Inflater {
    /// The most the body may hold, compressed or once inflated: a bound against
    /// decompression bombs.
    let limit: Int
    private var compressed: [UInt8] = []
    private var tooLarge = false

    init(limit: Int) {
        self.limit = limit
    }

    /// Why a body did not inflate.
    enum Failure: Error, Equatable {
        /// Not gzip, corrupt, or cut short.
        case invalid
        /// More than ``limit`` bytes, compressed or inflated.
        case tooLarge
    }

    /// Collects the next bytes of the compressed body.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard !tooLarge else { return }
        if compressed.count + bytes.count > limit { tooLarge = true } else { compressed.append(contentsOf: bytes) }
    }

    /// Decompresses every gzip member of the body collected so far, which must end exactly
    /// where its last member ends.
    func inflate() -> Result<[UInt8], Failure> {
        if tooLarge { return .failure(.tooLarge) }
        guard !compressed.isEmpty, let decompressor = libdeflate_alloc_decompressor() else { return .failure(.invalid) }
        defer { libdeflate_free_decompressor(decompressor) }
        // A member's last four bytes give its size modulo 2^32: for the usual single member, the
        // output's exact size.
        let lastSize = compressed.count >= 18
            ? compressed.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) } : 0
        var output = [UInt8](repeating: 0, count: min(limit, max(4096, lastSize)))
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
