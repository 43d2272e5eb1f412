@testable import SpoolForwarding

/// `bytes` as a gzip member, made by the transport's own compressor (libdeflate): the one
/// encoder in the package. Tests check it with decoders that share no code with it (the test
/// server's, `SpoolTestServer.Gzip.decompress`).
func gzipped(_ bytes: [UInt8], level: Int = Gzip.fastestLevel) throws -> [UInt8] {
    var buffer = try Gzip.compress(bytes, level: level)
    return buffer.readBytes(length: buffer.readableBytes) ?? []
}
