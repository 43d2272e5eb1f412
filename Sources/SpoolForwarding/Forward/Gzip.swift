import CDeflate
import NIOCore
import Spool
import Synchronization

/// gzip (RFC 1952) with the system libdeflate: the one compressor for request bodies.
///
/// libdeflate rather than zlib because a request body is always whole in memory, which is the
/// case libdeflate is built for: at level 1 it took 1.34 CPU s per million corpus entries
/// against zlib's 2.49, for slightly smaller bodies (BENCHMARKS.md, "gzip: libdeflate against
/// zlib").
enum Gzip {
    /// The fastest level: see ``Transport/Configuration/gzipLevel`` for why it is the default.
    static let fastestLevel = 1

    /// `bytes` compressed as a gzip member at `level` (1 fastest … 9 smaller), written straight
    /// into a buffer the transport sends. The buffer is first sized for half the body, which
    /// log lines fit in with room to spare (they compress 5–10×); a body that does not fit
    /// (already compressed, random) is compressed again into libdeflate's worst-case bound.
    /// A buffer left mostly empty is copied into one of the output's size: a request in flight
    /// holds what it sends, not the room it was given.
    /// - Throws: ``SpoolError`` `.io` if libdeflate cannot allocate a compressor, or (never
    ///   seen) finds no room within its own bound.
    static func compress(_ bytes: [UInt8], level: Int = fastestLevel, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(SpoolError) -> ByteBuffer {
        let level = max(1, min(9, level))
        guard let compressor = Compressors.shared.take(level: level) else {
            throw SpoolError(.io, "gzip: libdeflate could not allocate a compressor (out of memory)")
        }
        defer { Compressors.shared.give(compressor, level: level) }
        let bound = libdeflate_gzip_compress_bound(compressor, bytes.count)
        for capacity in [min(bound, 1024 + bytes.count / 2), bound] {
            var output = allocator.buffer(capacity: capacity)
            let written = bytes.withUnsafeBytes { source in
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { target in
                    libdeflate_gzip_compress(compressor, source.baseAddress, source.count, target.baseAddress, target.count)
                }
            }
            // Zero when the output does not fit: expected of the first try now and then, never
            // of the second (the bound is libdeflate's worst case).
            guard written > 0 || bytes.isEmpty else { continue }
            guard output.capacity > 2 * output.readableBytes + 4096 else { return output }
            var exact = allocator.buffer(capacity: output.readableBytes)
            exact.writeBuffer(&output)
            return exact
        }
        throw SpoolError(.io, "gzip: libdeflate found no room for \(bytes.count) bytes")
    }

    /// Compressors kept between requests: one costs tens of KiB of tables to set up, more
    /// than a small body takes to compress. At most a few per level are kept (one per request
    /// in flight is the most that is ever used at once).
    private final class Compressors: Sendable {
        static let shared = Compressors()
        private static let keptPerLevel = 4
        private let idle = Mutex<[Int: [Compressor]]>([:])

        /// A compressor pointer; libdeflate's compressors are used by one thread at a time.
        struct Compressor: @unchecked Sendable { let pointer: OpaquePointer }

        func take(level: Int) -> OpaquePointer? {
            if let kept = idle.withLock({ $0[level]?.popLast() }) { return kept.pointer }
            return libdeflate_alloc_compressor(Int32(level))
        }

        func give(_ compressor: OpaquePointer, level: Int) {
            let kept = idle.withLock { idle -> Bool in
                guard idle[level, default: []].count < Self.keptPerLevel else { return false }
                idle[level, default: []].append(Compressor(pointer: compressor))
                return true
            }
            if !kept { libdeflate_free_compressor(compressor) }
        }
    }
}
