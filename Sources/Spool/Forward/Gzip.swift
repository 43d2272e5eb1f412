import CZlib

/// gzip (RFC 1952) with the system zlib: the one compressor for request bodies.
enum Gzip {
    /// `bytes` compressed as a gzip member, at zlib's default level.
    /// - Throws: ``SpoolError`` `.io` if zlib fails (it only does when out of memory).
    static func compress(_ bytes: [UInt8]) throws(SpoolError) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        var rc = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw SpoolError(.io, "gzip: zlib could not start (code \(rc))") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        var input = bytes
        rc = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw SpoolError(.io, "gzip: zlib failed (code \(rc))") }
        output.removeLast(output.count - Int(stream.total_out))
        return output
    }
}
