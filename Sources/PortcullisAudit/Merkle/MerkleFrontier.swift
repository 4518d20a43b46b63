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

    /// A perfect subtree the last append completed: `2^level` leaves starting at leaf `index << level`.
    public struct CompletedNode: Sendable, Equatable {
        public var level: Int
        public var index: UInt64
        public var hash: RFC6962.Hash
    }

    /// Appends one leaf hash.
    public mutating func append(_ leafHash: RFC6962.Hash) {
        append(leafHash, reportingFrom: Int.max) { _ in }
    }

    /// Appends one leaf hash and reports each perfect subtree of at least `2^minimumLevel` leaves it completes.
    public mutating func append(_ leafHash: RFC6962.Hash, reportingFrom minimumLevel: Int,
                                _ completed: (CompletedNode) throws -> Void) rethrows {
        var hash = leafHash
        var n = size
        var level = 0
        // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        while n & 1 == 1 {
            hash = RFC6962.nodeHash(peaks.removeLast(), hash)
            n >>= 1
            level += 1
            if level >= minimumLevel {
                try completed(CompletedNode(level: level, index: (size + 1) >> UInt64(level) - 1, hash: hash))
            }
        }
        peaks.append(hash)
        size += 1
    }

    /// The frontier of a tree of `size` leaves from the roots of its perfect subtrees (largest first), as
    /// ``RFC6962/peakRanges(size:)`` lists them.
    public init?(size: UInt64, peaks: [RFC6962.Hash]) {
        guard peaks.count == size.nonzeroBitCount, peaks.allSatisfy({ $0.count == 32 }) else { return nil }
        self.size = size
        self.peaks = peaks
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
