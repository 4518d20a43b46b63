import Foundation
import PortcullisAudit
import Testing

/// The Certificate Transparency reference vectors (RFC 6962 test data, as used by every CT implementation).
enum CTVectors {
    static let leaves: [[UInt8]] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                    "606162636465666768696a6b6c6d6e6f"].map(hex)
    static let roots: [String] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    /// (leaf index, tree size, path)
    static let inclusion: [(Int, Int, [String])] = [
        (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ]
    /// (old size, new size, proof)
    static let consistency: [(Int, Int, [String])] = [
        (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ]
}

func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

@Suite("RFC 6962 Merkle trees")
struct RFC6962Tests {
    let hashes = CTVectors.leaves.map { RFC6962.leafHash($0) }

    @Test("roots of sizes 0 to 8 match the reference vectors, by recursion and by frontier")
    func roots() {
        var frontier = MerkleFrontier()
        #expect(hexString(frontier.root) == CTVectors.roots[0])
        for n in 0...8 {
            #expect(hexString(RFC6962.root(hashes[..<n])) == CTVectors.roots[n], "size \(n)")
            if n > 0 {
                frontier.append(hashes[n - 1])
                #expect(hexString(frontier.root) == CTVectors.roots[n], "frontier size \(n)")
            }
        }
    }

    @Test("inclusion proofs match the reference vectors", arguments: CTVectors.inclusion.indices)
    func inclusion(_ k: Int) {
        let (index, size, expected) = CTVectors.inclusion[k]
        let proof = RFC6962.inclusionProof(index: index, hashes[..<size])
        #expect(proof.map(hexString) == expected)
        #expect(RFC6962.verifyInclusion(leafHash: hashes[index], index: UInt64(index), treeSize: UInt64(size),
                                        proof: proof, root: hex(CTVectors.roots[size])))
    }

    @Test("consistency proofs match the reference vectors", arguments: CTVectors.consistency.indices)
    func consistency(_ k: Int) {
        let (m, n, expected) = CTVectors.consistency[k]
        let proof = RFC6962.consistencyProof(oldSize: m, hashes[..<n])
        #expect(proof.map(hexString) == expected)
        #expect(RFC6962.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: hex(CTVectors.roots[m]),
                                          newRoot: hex(CTVectors.roots[n]), proof: proof))
    }

    @Test("every proof of every tree up to 40 leaves verifies, and every altered proof fails")
    func exhaustive() {
        let leaves = (0..<40).map { RFC6962.leafHash([UInt8(truncatingIfNeeded: $0), 7]) }
        var frontier = MerkleFrontier()
        var roots = [RFC6962.emptyRoot]
        for leaf in leaves {
            frontier.append(leaf)
            roots.append(frontier.root)
        }
        for n in 1...leaves.count {
            #expect(RFC6962.root(leaves[..<n]) == roots[n])
            for i in 0..<n {
                let proof = RFC6962.inclusionProof(index: i, leaves[..<n])
                #expect(RFC6962.verifyInclusion(leafHash: leaves[i], index: UInt64(i), treeSize: UInt64(n), proof: proof, root: roots[n]))
                #expect(!RFC6962.verifyInclusion(leafHash: leaves[(i + 1) % n], index: UInt64(i), treeSize: UInt64(n),
                                                 proof: proof, root: roots[n]) || n == 1)
                if !proof.isEmpty {
                    var bad = proof
                    bad[bad.count - 1][0] ^= 1
                    #expect(!RFC6962.verifyInclusion(leafHash: leaves[i], index: UInt64(i), treeSize: UInt64(n), proof: bad, root: roots[n]))
                    #expect(!RFC6962.verifyInclusion(leafHash: leaves[i], index: UInt64(i), treeSize: UInt64(n),
                                                     proof: Array(proof.dropLast()), root: roots[n]))
                }
            }
            for m in 0...n {
                let proof = RFC6962.consistencyProof(oldSize: m, leaves[..<n])
                #expect(RFC6962.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: roots[m], newRoot: roots[n], proof: proof),
                        "consistency \(m) → \(n)")
                if !proof.isEmpty {
                    var bad = proof
                    bad[0][5] ^= 0x80
                    #expect(!RFC6962.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: roots[m], newRoot: roots[n], proof: bad))
                    #expect(!RFC6962.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: roots[m],
                                                       newRoot: roots[n], proof: Array(proof.dropLast())))
                }
                if m > 0 && m < n {
                    #expect(!RFC6962.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: roots[m - 1],
                                                       newRoot: roots[n], proof: proof))
                }
            }
        }
    }
}
