import CZlib

/// gzip decoding for the demo receiver (the Loki sink gzips bodies over 1 KiB).
enum DemoGunzip {
    struct Failure: Error {
        var zlibCode: Int32
    }

    /// Inflates a gzip body, at most `limit` bytes of output.
    static func inflate(_ bytes: [UInt8], limit: Int = 64 << 20) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        let initCode = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initCode == Z_OK else { throw Failure(zlibCode: initCode) }
        defer { inflateEnd(&stream) }
        var input = bytes
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var offset = 0
        while true {
            let (code, produced, consumed) = input.withUnsafeMutableBufferPointer { inBuffer in
                chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_in = inBuffer.baseAddress.map { $0 + offset }
                    stream.avail_in = uInt(inBuffer.count - offset)
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    let code = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return (code, outBuffer.count - Int(stream.avail_out), inBuffer.count - offset - Int(stream.avail_in))
                }
            }
            offset += consumed
            output.append(contentsOf: chunk[..<produced])
            guard output.count <= limit else { throw Failure(zlibCode: Z_BUF_ERROR) }
            switch code {
            case Z_STREAM_END:
                if offset == input.count { return output }
                inflateReset(&stream)
            case Z_OK:
                if consumed == 0 && produced == 0 { throw Failure(zlibCode: Z_DATA_ERROR) }
            default:
                throw Failure(zlibCode: code)
            }
        }
    }
}
