import Foundation
@testable import PortcullisAudit
import Testing

/// Proofs built from stored subtree roots (O(log n) reads) against the in-memory reference over every leaf.
@Suite("Stored subtrees and O(log n) proofs")
struct StoredSubtreeTests {
    static func leaves(_ n: Int) -> [RFC6962.Hash] {
        (0..<n).map { RFC6962.leafHash(Array("leaf \($0)".utf8)) }
    }

    @Test("range-based inclusion and consistency proofs equal the reference for every index and size up to 100")
    func differential() throws {
        let all = Self.leaves(100)
        for size in 1...100 {
            let tree = all[..<size]
            let perfect: RFC6962.SubtreeRoot = { range in
                let count = UInt64(range.count)
                #expect(count & (count - 1) == 0 && range.lowerBound % count == 0, "asked for \(range), not a perfect subtree")
                return RFC6962.root(tree[Int(range.lowerBound)..<Int(range.upperBound)])
            }
            #expect(try RFC6962.root(0..<UInt64(size), perfect: perfect) == RFC6962.root(tree))
            for index in 0..<size {
                #expect(try RFC6962.inclusionProof(index: UInt64(index), size: UInt64(size), perfect: perfect)
                        == RFC6962.inclusionProof(index: index, tree), "index \(index) of \(size)")
            }
            for old in 0...size {
                #expect(try RFC6962.consistencyProof(oldSize: UInt64(old), size: UInt64(size), perfect: perfect)
                        == RFC6962.consistencyProof(oldSize: old, tree), "\(old) → \(size)")
            }
        }
    }

    @Test("peaks of a size are its set bits, largest first, and rebuild the frontier")
    func peaks() {
        #expect(RFC6962.peakRanges(size: 0).isEmpty)
        #expect(RFC6962.peakRanges(size: 13) == [0..<8, 8..<12, 12..<13])
        let all = Self.leaves(77)
        var reference = MerkleFrontier()
        for leaf in all { reference.append(leaf) }
        let peaks = RFC6962.peakRanges(size: 77).map { RFC6962.root(all[Int($0.lowerBound)..<Int($0.upperBound)]) }
        #expect(MerkleFrontier(size: 77, peaks: peaks) == reference)
        #expect(MerkleFrontier(size: 77, peaks: Array(peaks.dropLast())) == nil)
    }

    @Test("the frontier reports each perfect subtree an append completes, at its level and position")
    func completedNodes() {
        var frontier = MerkleFrontier()
        var nodes: [MerkleFrontier.CompletedNode] = []
        let all = Self.leaves(300)
        for leaf in all { frontier.append(leaf, reportingFrom: 6) { nodes.append($0) } }
        // 300 leaves: four subtrees of 64 (level 6), two of 128 (level 7), one of 256 (level 8).
        #expect(nodes.map { [$0.level, Int($0.index)] } == [[6, 0], [6, 1], [7, 0], [6, 2], [6, 3], [7, 1], [8, 0]])
        for node in nodes {
            let first = Int(node.index) << node.level
            #expect(node.hash == RFC6962.root(all[first..<(first + (1 << node.level))]))
        }
    }

    @Test("a proof in a log of 5,000 entries reads a few dozen hashes, not every leaf, and verifies")
    func logarithmicReads() async throws {
        let t = TempLog()
        defer { t.remove() }
        let log = try t.open()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<50 {
                group.addTask { for i in 0..<100 { try await log.append(sampleEvent(w * 100 + i)) } }
            }
            try await group.waitForAll()
        }
        let checkpoint = try await log.checkpoint()
        #expect(checkpoint.size == 5_000)
        for index in [0, 63, 64, 2_047, 4_095, 4_999] as [UInt64] {
            let proof = try await log.inclusionProof(index: index)
            #expect(RFC6962.verifyInclusion(leafHash: proof.leafHash, index: index, treeSize: 5_000, proof: proof.hashes,
                                            root: checkpoint.rootHash))
            let rows = await log.lastProofRowsRead
            #expect(rows < 200, "an inclusion proof read \(rows) hashes")
        }
        for from in [1, 64, 1_000, 4_096] as [UInt64] {
            let proof = try await log.consistencyProof(from: from, to: 5_000)
            #expect(RFC6962.verifyConsistency(oldSize: from, newSize: 5_000, oldRoot: proof.fromRoot,
                                              newRoot: checkpoint.rootHash, proof: proof.hashes))
            let rows = await log.lastProofRowsRead
            #expect(rows < 300, "a consistency proof read \(rows) hashes")
        }
        try await log.close()
        #expect(try t.verify().intact)
    }

    @Test("a log written before stored subtrees existed is backfilled when opened, and its proofs still verify")
    func backfill() async throws {
        let t = TempLog()
        defer { t.remove() }
        var log = try t.open()
        for i in 0..<200 { try await log.append(sampleEvent(i)) }
        let before = try await log.checkpoint()
        try await log.close()
        try t.sqlite("DROP TABLE audit_nodes; DELETE FROM grdb_migrations WHERE identifier = 'v2-audit-nodes';")
        log = try t.open()
        #expect(await log.size == 200)
        let proof = try await log.inclusionProof(index: 150, treeSize: 200)
        #expect(RFC6962.verifyInclusion(leafHash: proof.leafHash, index: 150, treeSize: 200, proof: proof.hashes,
                                        root: before.rootHash))
        try await log.close()
        #expect(try t.verify().intact)
    }

    @Test("verify reports a stored subtree hash that does not match its entries; a missing one fails the proof")
    func tamperedNode() async throws {
        let t = TempLog()
        defer { t.remove() }
        let log = try t.open()
        for i in 0..<130 { try await log.append(sampleEvent(i)) }
        try await log.close()
        #expect(try t.verify().intact)
        try t.sqlite("UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 6 AND idx = 1")
        let report = try t.verify()
        let problem = try #require(report.problems.first)
        #expect(problem.kind == .malformed && problem.index == 64, "\(report.problems)")
        try t.sqlite("DELETE FROM audit_nodes WHERE level = 6 AND idx = 1")
        let reopened = try t.open()
        await #expect(throws: AuditError.self) { try await reopened.inclusionProof(index: 3, treeSize: 130) }
        try await reopened.close()
    }
}
