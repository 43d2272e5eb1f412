import CZlib

/// gzip decompression through the system zlib, for checking request bodies in tests.
///
/// Independent on purpose: the package has one gzip encoder (the transport's, ISA-L at level 1
/// and libdeflate above) and one decoder (`spool`'s `Inflater`, libdeflate), and this one, through another library,
/// shares no code with either, so a test never checks our gzip handling with itself. Tests
/// build gzip bodies with the transport's encoder.
public enum Gzip: Sendable {
    /// A zlib failure, with zlib's return code.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// zlib's return code, such as `Z_DATA_ERROR` (-3).
        public let zlibCode: Int32
        /// What was being done.
        public let message: String
        public var description: String { "gzip: \(message) (zlib \(zlibCode))" }
    }

    /// Decompresses gzip data, all members of it, refusing more than `limit` output bytes.
    ///
    /// - Parameters:
    ///   - bytes: gzip data.
    ///   - limit: The most decompressed bytes accepted; a bound against decompression bombs.
    /// - Returns: The decompressed bytes.
    /// - Throws: ``Failure`` if the data is not valid, complete gzip or inflates past `limit`.
    public static func decompress(_ bytes: [UInt8], limit: Int = 256 << 20) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        let initCode = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initCode == Z_OK else { throw Failure(zlibCode: initCode, message: "inflateInit2") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = bytes
        var offset = 0
        while true {
            let (code, produced, consumed) = input.withUnsafeMutableBufferPointer { inBuffer in
                chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_in = inBuffer.baseAddress.map { $0 + offset }
                    stream.avail_in = uInt(inBuffer.count - offset)
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    let code = inflate(&stream, Z_NO_FLUSH)
                    return (code, outBuffer.count - Int(stream.avail_out), inBuffer.count - offset - Int(stream.avail_in))
                }
            }
            offset += consumed
            output.append(contentsOf: chunk[..<produced])
            guard output.count <= limit else {
                throw Failure(zlibCode: Z_BUF_ERROR, message: "more than \(limit) bytes once inflated")
            }
            switch code {
            case Z_STREAM_END:
                // Concatenated members are one valid gzip stream (RFC 1952 2.2).
                if offset == input.count { return output }
                inflateReset(&stream)
            case Z_OK:
                continue
            case Z_BUF_ERROR where consumed == 0 && produced == 0:
                throw Failure(zlibCode: code, message: "truncated data")
            default:
                throw Failure(zlibCode: code, message: "invalid data")
            }
        }
    }
}
