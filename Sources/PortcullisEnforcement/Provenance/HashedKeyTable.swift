/// A map from keyed hashes to a small value (a source's index), for the provenance ledger's books.
///
/// By hand because the keys are already uniformly random (SipHash under the ledger's secret key): `Dictionary`
/// would hash each of them again with SipHash on every lookup and insertion, which cost about as much as the rest
/// of remembering an answer. Each slot is one word, the key's 48 high bits beside its 16-bit value, so that a probe
/// touches one cache line; open addressing with linear probing on the key's bits, at most 70% full; the word 0
/// marks an empty slot (a key whose 48 bits are 0 is stored as 1).
///
/// 48 bits of a keyed hash: among the at most 50,000 values of a book, a value never seen matches one by chance
/// about once in 5 × 10^9 lookups, and without the ledger's key nobody can aim for a match.
struct HashedKeyTable: Sendable {
    private var slots: [UInt64]
    private(set) var count = 0

    init(minimumCapacity: Int = 0) {
        var n = 16
        while n * 7 / 10 < minimumCapacity { n *= 2 }
        slots = Array(repeating: 0, count: n)
    }

    var isEmpty: Bool { count == 0 }

    /// The key's 48 high bits, never 0, in the slot's high bits.
    @inline(__always)
    private static func tag(_ key: UInt64) -> UInt64 {
        let high = key & 0xFFFF_FFFF_FFFF_0000
        return high == 0 ? 1 << 16 : high
    }

    @inline(__always)
    private func start(_ tag: UInt64) -> Int { Int(truncatingIfNeeded: tag >> 16) & (slots.count - 1) }

    /// The value stored for `key`, nil when it is absent.
    func value(for key: UInt64) -> UInt16? {
        let tag = Self.tag(key)
        let mask = slots.count - 1
        return slots.withUnsafeBufferPointer { slots in
            var i = start(tag)
            while true {
                let s = slots[i]
                if s == 0 { return nil }
                if s & 0xFFFF_FFFF_FFFF_0000 == tag { return UInt16(truncatingIfNeeded: s) }
                i = (i + 1) & mask
            }
        }
    }

    func contains(_ key: UInt64) -> Bool { value(for: key) != nil }

    /// Stores `value` for `key` unless the key is present; true when it was inserted.
    @discardableResult
    mutating func insert(_ key: UInt64, value: UInt16 = 0) -> Bool {
        if (count + 1) * 10 > slots.count * 7 { grow() }
        let tag = Self.tag(key)
        let mask = slots.count - 1
        let first = start(tag)
        let inserted = slots.withUnsafeMutableBufferPointer { slots in
            var i = first
            while true {
                let s = slots[i]
                if s & 0xFFFF_FFFF_FFFF_0000 == tag { return false }
                if s == 0 {
                    slots[i] = tag | UInt64(value)
                    return true
                }
                i = (i + 1) & mask
            }
        }
        if inserted { count += 1 }
        return inserted
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: old.count * 2)
        count = 0
        for s in old where s != 0 { insert(s & 0xFFFF_FFFF_FFFF_0000, value: UInt16(truncatingIfNeeded: s)) }
    }
}
