import CDeflate
import CIsal
import NIOCore
import Spool
import Synchronization

/// gzip (RFC 1952) of request bodies, always whole in memory: the one compressor, with two
/// engines behind its level.
///
/// - **Level 1, the default: ISA-L's igzip** (the system libisal). On the Loki bodies of the
///   corpus it compressed 660–750 MB/s against libdeflate's 350–365 MB/s at its level 1, for
///   bodies about 5 % larger; gzip was the largest single cost of a drain (17 % of
///   `forward --stdin`'s CPU with libdeflate: BENCHMARKS.md, "Session 14").
/// - **Levels 2–9: libdeflate** at that level, for whoever trades CPU for smaller bodies.
///   ISA-L's own highest level compresses less than libdeflate's level 1 on log lines, so it
///   cannot serve that choice.
///
/// Either way the output is one standard gzip member, and the tests inflate it with zlib, a
/// third implementation (`SpoolTestServer.Gzip`).
package enum Gzip {
    /// The fastest level: see ``Transport/Configuration/gzipLevel`` for why it is the default.
    static let fastestLevel = 1

    /// `bytes` compressed as a gzip member at `level` (1 fastest … 9 smaller), written straight
    /// into a buffer the transport sends. The buffer is first sized for half the body, which
    /// log lines fit in with room to spare (they compress 5–10×); a body that does not fit
    /// (already compressed, random) is compressed again into the engine's worst-case bound.
    /// A buffer left mostly empty is copied into one of the output's size: a request in flight
    /// holds what it sends, not the room it was given.
    /// - Throws: ``SpoolError`` `.io` if an engine cannot allocate its state, or (never seen)
    ///   finds no room within its own bound.
    package static func compress(_ bytes: [UInt8], level: Int = fastestLevel, allocator: ByteBufferAllocator = ByteBufferAllocator()) throws(SpoolError) -> ByteBuffer {
        let level = max(1, min(9, level))
        // igzip counts its input and output in 32 bits; a larger body (never one of Spool's
        // requests, which stop at a few MiB) goes to libdeflate.
        if level == fastestLevel && bytes.count < Int(UInt32.max) / 2 {
            let stream = IgzipStreams.shared.take()
            defer { IgzipStreams.shared.give(stream) }
            return try fill(bytes, bound: IgzipStream.bound(bytes.count), allocator: allocator, engine: "isa-l") { source, target in
                stream.compress(source, into: target)
            }
        }
        guard let compressor = DeflateCompressors.shared.take(level: level) else {
            throw SpoolError(.io, "gzip: libdeflate could not allocate a compressor (out of memory)")
        }
        defer { DeflateCompressors.shared.give(compressor, level: level) }
        return try fill(bytes, bound: libdeflate_gzip_compress_bound(compressor, bytes.count), allocator: allocator, engine: "libdeflate") { source, target in
            libdeflate_gzip_compress(compressor, source.baseAddress, source.count, target.baseAddress, target.count)
        }
    }

    /// Runs `engine` into a buffer for half the body, then, if that was too small, into
    /// `bound`; `engine` returns the bytes written, 0 when they do not fit, or a negative
    /// error code of the engine's.
    static func fill(
        _ bytes: [UInt8], bound: Int, allocator: ByteBufferAllocator, engine name: String,
        _ engine: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) -> Int
    ) throws(SpoolError) -> ByteBuffer {
        for capacity in [min(bound, 1024 + bytes.count / 2), bound] {
            var output = allocator.buffer(capacity: capacity)
            var failure = 0
            let written = bytes.withUnsafeBytes { source in
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { target in
                    // The buffer moves its writer index by what this returns: never below 0.
                    let result = engine(source, UnsafeMutableRawBufferPointer(rebasing: target[..<capacity]))
                    if result < 0 { failure = result }
                    return max(0, result)
                }
            }
            guard failure == 0 else { throw SpoolError(.io, "gzip: \(name) failed with error \(failure)") }
            // Zero when the output does not fit: expected of the first try now and then, never
            // of the second (the bound is the engine's worst case).
            guard written > 0 else { continue }
            guard output.capacity > 2 * output.readableBytes + 4096 else { return output }
            var exact = allocator.buffer(capacity: output.readableBytes)
            exact.writeBuffer(&output)
            return exact
        }
        throw SpoolError(.io, "gzip: \(name) found no room for \(bytes.count) bytes")
    }

    /// One igzip compression state: the stream (about 80 KiB) and level 1's buffer (its hash
    /// table and tokens). Used by one thread at a time.
    private final class IgzipStream: @unchecked Sendable {
        /// `ISAL_DEF_LVL1_MEDIUM` (a C expression Swift does not import): 20 KiB of hash table
        /// and 128 KiB of tokens. On corpus bodies the 276 KiB default was 6 % faster (746
        /// against 701 MB/s) for 125 KiB more per request in flight; 84 KiB was 6 % slower.
        static let levelBufferBytes = 151_552
        private let stream = UnsafeMutablePointer<isal_zstream>.allocate(capacity: 1)
        private let levelBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: levelBufferBytes)

        init() {
            // Zeroed: libisal 2.30's `isal_deflate_stateless_init` leaves some fields as they
            // were (`hist_bits`, which would shrink the look-back window), so nothing may be
            // left over from the allocator.
            stream.initialize(to: isal_zstream())
            levelBuffer.initialize(repeating: 0, count: Self.levelBufferBytes)
        }

        deinit {
            stream.deallocate()
            levelBuffer.deallocate()
        }

        /// The most a body of `count` bytes can take: when the compressed form does not fit,
        /// igzip's stateless call writes the input as stored blocks (5 bytes of header per
        /// 64 KiB), after the gzip header (10 bytes) and before its trailer (8).
        static func bound(_ count: Int) -> Int {
            count + 5 * (count / 65_535 + 1) + 64
        }

        /// Compresses all of `source` into `target` as one gzip member; returns the bytes
        /// written, 0 when they do not fit, or igzip's (negative) error code.
        func compress(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) -> Int {
            isal_deflate_stateless_init(stream)
            stream.pointee.hist_bits = 0  // the whole 32 KiB window (see `init`)
            stream.pointee.level = 1
            stream.pointee.level_buf = levelBuffer
            stream.pointee.level_buf_size = UInt32(Self.levelBufferBytes)
            stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
            stream.pointee.end_of_stream = 1
            stream.pointee.flush = UInt16(NO_FLUSH)
            // igzip reads its input through a mutable pointer but never writes it.
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = UInt32(source.count)
            stream.pointee.next_out = target.baseAddress?.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(target.count)
            switch isal_deflate_stateless(stream) {
            case COMP_OK: return Int(stream.pointee.total_out)
            case STATELESS_OVERFLOW: return 0
            case let code: return Int(min(-1, code))
            }
        }
    }

    /// igzip states kept between requests: one costs about 230 KiB, more than a small body
    /// takes to compress. At most a few are kept (one per request in flight is the most that
    /// is ever used at once).
    private final class IgzipStreams: Sendable {
        static let shared = IgzipStreams()
        private static let kept = 4
        private let idle = Mutex<[IgzipStream]>([])

        func take() -> IgzipStream {
            idle.withLock { $0.popLast() } ?? IgzipStream()
        }

        func give(_ stream: IgzipStream) {
            idle.withLock { idle in
                if idle.count < Self.kept { idle.append(stream) }
            }
        }
    }

    /// libdeflate compressors kept between requests, for the same reason. At most a few per
    /// level are kept.
    private final class DeflateCompressors: Sendable {
        static let shared = DeflateCompressors()
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
