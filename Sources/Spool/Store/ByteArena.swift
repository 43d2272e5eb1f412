/// A growable byte buffer that is emptied, not freed, between uses. Addresses it hands out stay
/// valid until the next `clear`, so `clear(reserving:)` must reserve all the bytes the copies
/// before the next `clear` will take.
package struct ByteArena: ~Copyable {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    private var used = 0

    mutating func clear(reserving bytes: Int) {
        used = 0
        guard bytes > capacity else { return }
        base?.deallocate()
        capacity = max(bytes, capacity * 2, 4096)
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Copies `text`'s UTF-8 bytes into the arena; traps if `clear` did not reserve room.
    mutating func copy(_ text: String) -> UnsafeRawBufferPointer {
        var text = text
        return text.withUTF8 { bytes in
            precondition(used + bytes.count <= capacity, "ByteArena: copy past the reserved bytes")
            let start = base.map { $0 + used }
            if let start, let source = bytes.baseAddress {
                start.copyMemory(from: source, byteCount: bytes.count)
            }
            used += bytes.count
            return UnsafeRawBufferPointer(start: start, count: bytes.count)
        }
    }

    deinit { base?.deallocate() }
}
