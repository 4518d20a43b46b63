public import Foundation
import GRDB

/// What `portcullis audit verify` found.
public struct AuditVerificationReport: Sendable {
    /// A kind of damage.
    public enum Kind: String, Sendable {
        /// An entry's bytes differ from what was hashed and signed.
        case modified
        /// Entries are missing from the middle of the log.
        case deleted
        /// Entries that were never appended sit in the log.
        case inserted
        /// Entries are in another order than they were appended.
        case reordered
        /// Entries covered by a signed checkpoint are missing from the end of the log.
        case truncated
        /// An entry is not valid JSON or not an entry.
        case malformed
        /// A checkpoint is unsigned, forged, altered or inconsistent with the entries.
        case checkpoint
    }

    /// One finding, naming the entry (position and event id) when there is one.
    public struct Problem: Sendable, Equatable {
        public var kind: Kind
        public var index: UInt64?
        public var eventID: String?
        public var message: String
    }

    /// The number of entries stored.
    public var entries: UInt64 = 0
    /// The number of signed checkpoints whose signature and root were checked.
    public var checkpointsVerified = 0
    /// The size of the largest valid checkpoint (from the database or the head file).
    public var latestCheckpointSize: UInt64?
    /// Problems found, in log order; entries after the first damaged one are not reported separately.
    public var problems: [Problem] = []

    /// Whether nothing was found.
    public var intact: Bool { problems.isEmpty }

    /// Entries appended after the latest checkpoint: not yet covered by a signature.
    public var uncoveredEntries: UInt64 { entries - min(entries, latestCheckpointSize ?? 0) }
}

/// Verifies an audit log offline, from its database file and head checkpoint file.
///
/// Every entry's leaf hash is recomputed from its stored bytes and compared with the stored
/// hash; every entry's position is compared with the one inside its hashed bytes; the tree
/// is rebuilt and its root compared with every signed checkpoint; every checkpoint's
/// signature is checked with the trusted key. See docs/audit.md for what is and is not
/// detectable.
public struct AuditVerifier: Sendable {
    public let verifier: NoteVerifier

    /// - Parameter verifier: The trusted checkpoint key.
    public init(verifier: NoteVerifier) {
        self.verifier = verifier
    }

    /// Verifies the log in `databasePath`, with the head checkpoint in `headPath` (if given).
    ///
    /// - Throws: ``AuditError`` only when the database cannot be read at all; damage is reported, not thrown.
    public func verify(databasePath: String, headPath: String?) throws -> AuditVerificationReport {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw AuditError(.storage, "no audit log at \(databasePath)")
        }
        var config = GRDB.Configuration()
        config.readonly = true
        config.label = "PortcullisAuditVerify"
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: databasePath, configuration: config)
        } catch {
            throw AuditError(.storage, "cannot open the audit log at \(databasePath): \(error)")
        }
        defer { try? queue.close() }
        do {
            return try queue.read { db in try verify(db, headPath: headPath) }
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot read the audit log at \(databasePath): \(error)")
        }
    }

    private struct Trusted {
        var root: RFC6962.Hash
        var source: String
    }

    func verify(_ db: Database, headPath: String?) throws -> AuditVerificationReport {
        var report = AuditVerificationReport()
        let origin = try String.fetchOne(db, sql: "SELECT value FROM audit_meta WHERE key = 'origin'")
        func problem(_ kind: AuditVerificationReport.Kind, _ index: UInt64?, _ id: String?, _ message: String) {
            report.problems.append(.init(kind: kind, index: index, eventID: id, message: message))
        }

        // 1. Checkpoints: signature, origin, size column.
        var trusted: [UInt64: Trusted] = [:]
        func accept(_ text: String, source: String, expectedSize: UInt64?) -> SignedCheckpoint? {
            guard let signed = try? SignedCheckpoint(parsing: text) else {
                problem(.checkpoint, nil, nil, "\(source) is not a signed checkpoint")
                return nil
            }
            guard verifier.verifies(signed.note) else {
                problem(.checkpoint, nil, nil,
                        "\(source) (size \(signed.size)) has no valid signature by \(verifier.name): it was forged or altered")
                return nil
            }
            if let origin, signed.checkpoint.origin != origin {
                problem(.checkpoint, nil, nil, "\(source) names the log `\(signed.checkpoint.origin)`, not `\(origin)`")
                return nil
            }
            if let expectedSize, expectedSize != signed.size {
                problem(.checkpoint, nil, nil, "\(source) is stored as size \(expectedSize) but signs size \(signed.size)")
                return nil
            }
            if let other = trusted[signed.size], other.root != signed.rootHash {
                problem(.checkpoint, nil, nil, "\(source) and \(other.source) sign different roots for size \(signed.size)")
                return nil
            }
            trusted[signed.size] = Trusted(root: signed.rootHash, source: trusted[signed.size]?.source ?? source)
            report.checkpointsVerified += 1
            report.latestCheckpointSize = max(report.latestCheckpointSize ?? 0, signed.size)
            return signed
        }
        let rows = try Row.fetchAll(db, sql: "SELECT size, note FROM audit_checkpoints ORDER BY size")
        for row in rows {
            let size: Int64 = row[0]
            let note: String = row[1]
            _ = accept(note, source: "checkpoint \(size)", expectedSize: UInt64(size))
        }
        // The head checkpoint is written before the database row, so a crash between the two leaves a head the
        // database does not hold yet. That is only damage when the entries do not reach it (decided below).
        var unstoredHead: SignedCheckpoint?
        if let headPath {
            if let data = FileManager.default.contents(atPath: headPath) {
                if let head = accept(String(decoding: data, as: UTF8.self), source: "the head checkpoint file", expectedSize: nil),
                   !rows.contains(where: { ($0[0] as Int64) == Int64(head.size) }) {
                    unstoredHead = head
                }
            } else if !rows.isEmpty {
                problem(.checkpoint, nil, nil,
                        "the head checkpoint file \(headPath) is missing although the database holds checkpoints")
            }
        }

        // 2. Entries, in position order.
        var frontier = MerkleFrontier()
        // The stored subtree hashes the proofs are built from (StoredSubtrees) must be the ones the entries give.
        let nodeLookup = try db.tableExists("audit_nodes")
            ? try db.makeStatement(sql: "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?") : nil
        var badNode: MerkleFrontier.CompletedNode?
        var expected: UInt64 = 0
        var firstDamage: UInt64?
        var recentIDs: [UInt64: String] = [:]
        var unresolved: (position: UInt64, claimed: UInt64, id: String?)?
        var lastGoodCheckpoint: UInt64 = 0
        var deferredRoot: (from: UInt64, to: UInt64, id: String?, source: String)?
        func damage(_ kind: AuditVerificationReport.Kind, _ index: UInt64, _ id: String?, _ message: String) {
            guard firstDamage == nil else { return }
            firstDamage = index
            problem(kind, index, id, message)
        }
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT idx, entry, leaf_hash, event_id, CASE WHEN json_valid(entry) THEN json_extract(entry, '$.index') END,
                   CASE WHEN json_valid(entry) THEN time_ns IS json_extract(entry, '$.event.time_ns')
                        AND agent_id IS json_extract(entry, '$.event.agent.id') END
            FROM audit_entries ORDER BY idx
            """)
        while let row = try cursor.next() {
            let idx = UInt64(max(0, row[0] as Int64))
            let text: String = row[1] ?? ""
            let stored: Data = row[2] ?? Data()
            let id: String? = row[3]
            let claimed: Int64? = row[4]
            if let u = unresolved {
                if let claimed, UInt64(claimed) == u.claimed + 1 {
                    damage(.deleted, u.position, nil,
                           "entries \(u.position)…\(u.claimed - 1) were deleted: position \(u.position) holds entry \(u.claimed) (id \(u.id ?? "?")) and the rest were renumbered")
                } else {
                    damage(.reordered, u.position, u.id,
                           "entry \(u.position) is out of order: position \(u.position) holds entry \(u.claimed) (id \(u.id ?? "?"))")
                }
                unresolved = nil
            }
            if idx != expected {
                damage(.deleted, expected, nil,
                       idx == expected + 1 ? "entry \(expected) was deleted" : "entries \(expected)…\(idx - 1) were deleted")
                expected = idx
            }
            recentIDs[idx] = id
            recentIDs[idx &- 256] = nil
            let leaf = RFC6962.leafHash(text.utf8)
            if claimed == nil {
                damage(.malformed, idx, id, "entry \(idx) is not a valid log entry (not JSON, or no position)")
            } else if let claimed, UInt64(claimed) != idx, firstDamage == nil {
                let c = UInt64(max(0, claimed))
                if c > idx {
                    unresolved = (idx, c, id)
                } else {
                    let first = c
                    damage(.inserted, first, recentIDs[first],
                           "entry \(first) (id \(recentIDs[first] ?? "?")) was inserted: position \(idx) holds entry \(c), so \(idx - c) entr\(idx - c == 1 ? "y" : "ies") before it were never appended")
                }
            }
            let columnsAgree: Bool? = row[5]
            if claimed != nil, columnsAgree != true {
                damage(.modified, idx, id, "entry \(idx) (id \(id ?? "?")) has search columns (time, agent) that differ from its hashed content")
            }
            if [UInt8](stored) != leaf {
                damage(.modified, idx, id, "entry \(idx) (id \(id ?? "?")) was modified: its bytes do not match its recorded leaf hash")
            }
            try frontier.append(leaf, reportingFrom: StoredSubtrees.storedLevel) { node in
                guard badNode == nil, let nodeLookup else { return }
                let stored = try Data.fetchOne(nodeLookup, arguments: [node.level, Int64(node.index)])
                if stored.map({ [UInt8]($0) }) != node.hash { badNode = node }
            }
            expected = idx + 1
            if let t = trusted[frontier.size] {
                if t.root != frontier.root {
                    // Decided at the end: a structural finding inside this span explains it better.
                    if deferredRoot == nil && firstDamage == nil {
                        deferredRoot = (lastGoodCheckpoint, frontier.size, recentIDs[lastGoodCheckpoint], t.source)
                    }
                } else {
                    lastGoodCheckpoint = frontier.size
                }
            }
        }
        if let u = unresolved {
            damage(.deleted, u.position, nil,
                   "entries \(u.position)…\(u.claimed - 1) were deleted: position \(u.position) holds entry \(u.claimed) (id \(u.id ?? "?"))")
        }
        if let d = deferredRoot, firstDamage.map({ $0 >= d.to }) ?? true {
            let index = report.problems.firstIndex { $0.kind != .checkpoint } ?? report.problems.endIndex
            report.problems.insert(.init(kind: .modified, index: d.from, eventID: d.id,
                                         message: "an entry in positions \(d.from)…\(d.to - 1) was changed together with its leaf hash: the tree no longer matches \(d.source)"),
                                   at: index)
        }
        if let node = badNode, firstDamage == nil {
            let first = node.index << UInt64(node.level), count = UInt64(1) << UInt64(node.level)
            problem(.malformed, first, nil,
                    "the stored hash of entries \(first)…\(first + count - 1) is missing or does not match them: inclusion and consistency proofs over them would not verify")
        }
        report.entries = frontier.size
        if frontier.size == 0, let t = trusted[0], t.root != RFC6962.emptyRoot {
            problem(.checkpoint, nil, nil, "\(t.source) does not sign the empty tree")
        }
        if let head = unstoredHead, head.size > frontier.size {
            problem(.checkpoint, nil, nil,
                    "the head checkpoint (size \(head.size)) is missing from the database's checkpoints: they were deleted")
        }
        if let largest = trusted.keys.max(), largest > frontier.size {
            problem(.truncated, frontier.size, nil,
                    "the log was truncated: it holds \(frontier.size) entries but \(trusted[largest]!.source) signs \(largest); entries \(frontier.size)…\(largest - 1) are missing")
        }
        return report
    }
}
