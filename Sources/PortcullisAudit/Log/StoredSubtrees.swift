import Foundation
import GRDB

/// The roots of the log's perfect subtrees, read from the database without reading every leaf.
///
/// Each perfect subtree of at least ``storedLevel`` levels (64 leaves) is stored in `audit_nodes` when the append
/// that completes it commits, in the same transaction; smaller ones are hashed from their (at most 32) leaves.
/// So a proof, the root of any earlier tree size and the frontier at start-up read O(log n) rows.
struct StoredSubtrees {
    /// Subtrees of `2^storedLevel` leaves and more are stored: one row per 64 entries, about 1.6% more rows.
    static let storedLevel = 6

    let db: Database
    /// How many rows this reader has read (leaf and node hashes), for tests and benchmarks.
    private(set) var rowsRead = 0

    init(_ db: Database) { self.db = db }

    /// The root of the perfect subtree over `range` (its length a power of two, its start a multiple of it).
    mutating func perfect(_ range: Range<UInt64>) throws -> RFC6962.Hash {
        let count = UInt64(range.count)
        precondition(count > 0 && count & (count - 1) == 0, "not a perfect subtree")
        let level = count.trailingZeroBitCount
        if level >= Self.storedLevel {
            let statement = try db.cachedStatement(sql: "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?")
            rowsRead += 1
            guard let hash = try Data.fetchOne(statement, arguments: [level, Int64(range.lowerBound >> UInt64(level))]),
                  hash.count == 32 else {
                throw AuditError(.malformed, "the audit log has no stored hash for entries \(range.lowerBound)..<\(range.upperBound); run `portcullis audit verify`")
            }
            return [UInt8](hash)
        }
        let statement = try db.cachedStatement(
            sql: "SELECT leaf_hash FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx")
        let leaves = try Data.fetchAll(statement, arguments: [Int64(range.lowerBound), Int64(range.upperBound)])
        rowsRead += leaves.count
        guard leaves.count == range.count, leaves.allSatisfy({ $0.count == 32 }) else {
            throw AuditError(.malformed, "the audit log has gaps in entries \(range.lowerBound)..<\(range.upperBound); run `portcullis audit verify`")
        }
        return RFC6962.root(leaves.map { [UInt8]($0) }[...])
    }

    /// Stores the subtrees an append completed (inside the append's transaction).
    static func store(_ nodes: [MerkleFrontier.CompletedNode], _ db: Database) throws {
        guard !nodes.isEmpty else { return }
        let statement = try db.cachedStatement(sql: "INSERT INTO audit_nodes(level, idx, hash) VALUES (?, ?, ?)")
        for node in nodes {
            try statement.execute(arguments: [node.level, Int64(node.index), Data(node.hash)])
        }
    }

    /// The frontier of the log: its size from the entries table (which must hold positions 0..<size with no gap),
    /// its peaks from stored subtrees.
    static func frontier(_ db: Database) throws -> MerkleFrontier {
        let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(max(idx), -1) FROM audit_entries")
        let count: Int64 = row?[0] ?? 0
        let last: Int64 = row?[1] ?? -1
        guard last + 1 == count else {
            throw AuditError(.malformed, "the audit log's positions are not contiguous (\(count) entries, last position \(last)); run `portcullis audit verify`")
        }
        var reader = StoredSubtrees(db)
        let size = UInt64(count)
        let peaks = try RFC6962.peakRanges(size: size).map { try reader.perfect($0) }
        guard let frontier = MerkleFrontier(size: size, peaks: peaks) else {
            throw AuditError(.malformed, "the audit log's tree cannot be rebuilt; run `portcullis audit verify`")
        }
        return frontier
    }

    /// Fills `audit_nodes` for a log written before it existed (one pass over the leaves, once).
    static func backfill(_ db: Database) throws {
        var frontier = MerkleFrontier()
        let rows = try Row.fetchCursor(db, sql: "SELECT idx, leaf_hash FROM audit_entries ORDER BY idx")
        var completed: [MerkleFrontier.CompletedNode] = []
        while let row = try rows.next() {
            let idx: Int64 = row[0]
            let hash: Data = row[1]
            guard UInt64(idx) == frontier.size, hash.count == 32 else {
                throw AuditError(.malformed, "the audit log is damaged at entry \(frontier.size); run `portcullis audit verify`")
            }
            frontier.append([UInt8](hash), reportingFrom: storedLevel) { completed.append($0) }
            if completed.count >= 1024 {
                try store(completed, db)
                completed.removeAll(keepingCapacity: true)
            }
        }
        try store(completed, db)
    }
}
