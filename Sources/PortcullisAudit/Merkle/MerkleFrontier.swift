/// The right edge of a growing Merkle tree: the roots of its perfect subtrees, largest first.
///
/// Appending a leaf and reading the root cost O(log n) hashes and the frontier holds at
/// most 64 hashes, so the log keeps its current root without keeping its leaves in memory.
public struct MerkleFrontier: Sendable, Equatable {
    /// The number of leaves appended.
    public private(set) var size: UInt64 = 0
    /// The perfect-subtree roots, left to right; their sizes are the set bits of `size`.
    private var peaks: [RFC6962.Hash] = []

    public init() {}

    /// Appends one leaf hash.
    public mutating func append(_ leafHash: RFC6962.Hash) {
        var hash = leafHash
        var n = size
        // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        while n & 1 == 1 {
            hash = RFC6962.nodeHash(peaks.removeLast(), hash)
            n >>= 1
        }
        peaks.append(hash)
        size += 1
    }

    /// The Merkle tree hash of everything appended (RFC 6962 MTH).
    public var root: RFC6962.Hash {
        guard var hash = peaks.last else { return RFC6962.emptyRoot }
        for peak in peaks.dropLast().reversed() {
            hash = RFC6962.nodeHash(peak, hash)
        }
        return hash
    }
}
