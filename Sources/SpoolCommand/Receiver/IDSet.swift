/// Entry ids seen: a bitmap that grows, for ids from 0 to 2³² − 1 (others are not kept).
struct IDSet: Sendable {
    private var words: [UInt64] = []
    /// How many distinct ids were inserted.
    private(set) var count = 0

    mutating func insert(_ value: Int) {
        guard value >= 0, value < 1 << 32 else { return }
        let word = value >> 6, bit = UInt64(1) << UInt64(value & 63)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1 + words.count / 2)) }
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
        }
    }

    func contains(_ value: Int) -> Bool {
        guard value >= 0, value >> 6 < words.count else { return false }
        return words[value >> 6] & (UInt64(1) << UInt64(value & 63)) != 0
    }
}
