import Crypto

/// The Merkle tree hashing of RFC 6962 §2.1 (unchanged in RFC 9162 §2.1): SHA-256 with
/// domain-separated leaves and interior nodes, and the audit path and consistency proof
/// algorithms with their verifiers.
///
/// Hashes are 32-byte arrays. Trees are given as the list of their leaf hashes; the
/// proof generators are recursive and visit O(n) nodes, the verifiers O(log n).
public enum RFC6962 {
    /// A SHA-256 digest.
    public typealias Hash = [UInt8]

    /// The root of the empty tree: SHA-256 of the empty string.
    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// `SHA-256(0x00 || data)`.
    public static func leafHash<Bytes: Sequence<UInt8>>(_ data: Bytes) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0x00)) { hasher.update(bufferPointer: $0) }
        if data.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            hasher.update(data: Array(data))
        }
        return Array(hasher.finalize())
    }

    /// `SHA-256(0x01 || left || right)`.
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0x01)) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return Array(hasher.finalize())
    }

    /// The largest power of two strictly smaller than `n` (n ≥ 2): RFC 6962's split point.
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// MTH(D[n]): the Merkle tree hash of the given leaf hashes.
    public static func root(_ leaves: ArraySlice<Hash>) -> Hash {
        switch leaves.count {
        case 0: return emptyRoot
        case 1: return leaves[leaves.startIndex]
        default:
            let k = split(leaves.count)
            let mid = leaves.startIndex + k
            return nodeHash(root(leaves[leaves.startIndex..<mid]), root(leaves[mid...]))
        }
    }

    /// PATH(m, D[n]): the inclusion proof of leaf `index` in the tree of `leaves`.
    ///
    /// - Precondition: `index < leaves.count`.
    public static func inclusionProof(index: Int, _ leaves: ArraySlice<Hash>) -> [Hash] {
        precondition(index >= 0 && index < leaves.count, "leaf index out of range")
        if leaves.count == 1 { return [] }
        let k = split(leaves.count)
        let mid = leaves.startIndex + k
        if index < k {
            return inclusionProof(index: index, leaves[leaves.startIndex..<mid]) + [root(leaves[mid...])]
        }
        return inclusionProof(index: index - k, leaves[mid...]) + [root(leaves[leaves.startIndex..<mid])]
    }

    /// PROOF(m, D[n]): the consistency proof between the first `oldSize` leaves and all of `leaves`.
    ///
    /// Empty when `oldSize` is 0 or equals the tree size.
    /// - Precondition: `oldSize <= leaves.count`.
    public static func consistencyProof(oldSize: Int, _ leaves: ArraySlice<Hash>) -> [Hash] {
        precondition(oldSize >= 0 && oldSize <= leaves.count, "old size out of range")
        if oldSize == 0 || oldSize == leaves.count { return [] }
        return subproof(oldSize, leaves, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Hash>, complete: Bool) -> [Hash] {
        let n = leaves.count
        if m == n { return complete ? [] : [root(leaves)] }
        let k = split(n)
        let mid = leaves.startIndex + k
        if m <= k {
            return subproof(m, leaves[leaves.startIndex..<mid], complete: complete) + [root(leaves[mid...])]
        }
        return subproof(m - k, leaves[mid...], complete: false) + [root(leaves[leaves.startIndex..<mid])]
    }

    // MARK: - Proofs over a tree that is not in memory

    /// The root of the subtree over the leaves in a range; the range is always one the RFC 6962 recursion visits
    /// (it starts at a multiple of the largest power of two not above its length, or ends at the tree size).
    public typealias SubtreeRoot = (Range<UInt64>) throws -> Hash

    /// The perfect subtrees a tree of `size` leaves is made of, largest (leftmost) first: one per set bit of `size`.
    public static func peakRanges(size: UInt64) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        var start: UInt64 = 0
        var bit = size == 0 ? 0 : UInt64(1) << UInt64(63 - size.leadingZeroBitCount)
        while bit > 0 {
            if size & bit != 0 {
                ranges.append(start..<(start + bit))
                start += bit
            }
            bit >>= 1
        }
        return ranges
    }

    /// MTH over `range` from the roots of its perfect subtrees (`perfect` is only asked for perfect ranges).
    public static func root(_ range: Range<UInt64>, perfect: SubtreeRoot) rethrows -> Hash {
        let n = range.count
        if n == 0 { return emptyRoot }
        if n & (n - 1) == 0 { return try perfect(range) }
        let mid = range.lowerBound + UInt64(split(n))
        return nodeHash(try perfect(range.lowerBound..<mid), try root(mid..<range.upperBound, perfect: perfect))
    }

    /// PATH(m, D[n]) for a tree of `size` leaves, reading only the O(log n) subtree roots the proof is made of.
    public static func inclusionProof(index: UInt64, size: UInt64, perfect: SubtreeRoot) rethrows -> [Hash] {
        precondition(index < size, "leaf index out of range")
        var path: [Hash] = []
        var range: Range<UInt64> = 0..<size
        // Walk down from the root; each sibling is recorded, then the path is reversed to go leaf to root.
        while range.count > 1 {
            let mid = range.lowerBound + UInt64(split(range.count))
            if index < mid {
                path.append(try root(mid..<range.upperBound, perfect: perfect))
                range = range.lowerBound..<mid
            } else {
                path.append(try perfect(range.lowerBound..<mid))
                range = mid..<range.upperBound
            }
        }
        return path.reversed()
    }

    /// PROOF(m, D[n]) between the trees of `oldSize` and `size` leaves, reading O(log n) subtree roots.
    public static func consistencyProof(oldSize: UInt64, size: UInt64, perfect: SubtreeRoot) rethrows -> [Hash] {
        precondition(oldSize <= size, "old size out of range")
        if oldSize == 0 || oldSize == size { return [] }
        var path: [Hash] = []
        var range: Range<UInt64> = 0..<size
        var m = oldSize
        var complete = true
        while UInt64(range.count) != m {
            let n = UInt64(range.count)
            let k = UInt64(split(Int(n)))
            let mid = range.lowerBound + k
            if m <= k {
                path.append(try root(mid..<range.upperBound, perfect: perfect))
                range = range.lowerBound..<mid
            } else {
                path.append(try perfect(range.lowerBound..<mid))
                range = mid..<range.upperBound
                m -= k
                complete = false
            }
        }
        if !complete { path.append(try root(range, perfect: perfect)) }
        return path.reversed()
    }

    /// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
    public static func verifyInclusion(leafHash: Hash, index: UInt64, treeSize: UInt64, proof: [Hash], root: Hash) -> Bool {
        guard index < treeSize, leafHash.count == 32, root.count == 32 else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            guard p.count == 32, sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Verifies a consistency proof (RFC 9162 §2.1.4.2); sizes equal or the old size 0 need an empty proof.
    public static func verifyConsistency(oldSize: UInt64, newSize: UInt64, oldRoot: Hash, newRoot: Hash,
                                         proof: [Hash]) -> Bool {
        guard oldSize <= newSize, oldRoot.count == 32, newRoot.count == 32 else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty && oldRoot == emptyRoot }
        guard !proof.isEmpty, proof.allSatisfy({ $0.count == 32 }) else { return false }
        var path = proof
        // When the old size is a power of two, its root is the implicit first element.
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}
