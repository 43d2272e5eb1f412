import CZlib
import NIOCore

/// gzip (RFC 1952) with the system zlib: the one compressor for request bodies.
enum Gzip {
    /// zlib's fastest level: see ``Transport/Configuration/gzipLevel`` for why it is the default.
    static let fastestLevel = 1

    /// `bytes` compressed as a gzip member at `level` (1 fastest … 9 smallest), written straight
    /// into a buffer the transport sends: the body is read once and the output written once.
    /// - Throws: ``SpoolError`` `.io` if zlib fails (it only does when out of memory).
    static func compress(_ bytes: [UInt8], level: Int = fastestLevel, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(SpoolError) -> ByteBuffer {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        var rc = deflateInit2_(&stream, Int32(max(1, min(9, level))), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw SpoolError(.io, "gzip: zlib could not start (code \(rc))") }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.count))) + 32
        var output = allocator.buffer(capacity: bound)
        bytes.withUnsafeBufferPointer { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                // zlib never writes through next_in; its type lacks the const.
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress?.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = UInt32(target.count)
                rc = deflate(&stream, Z_FINISH)
                return rc == Z_STREAM_END ? Int(stream.total_out) : 0
            }
        }
        guard rc == Z_STREAM_END else { throw SpoolError(.io, "gzip: zlib failed (code \(rc))") }
        return output
    }
}
