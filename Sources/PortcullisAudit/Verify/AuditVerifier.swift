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

    /// One stored entry row, as the verification reads it.
    public struct EntryRow: Sendable {
        public var idx: Int64
        /// The stored entry text (nil when the column is NULL).
        public var text: String?
        public var leafHash: [UInt8]?
        public var eventID: String?
        /// The position inside the entry's JSON, when it is valid JSON with one.
        public var claimedIndex: Int64?
        /// Whether the search columns (time, agent) agree with the hashed entry (nil when it is not JSON).
        public var columnsAgree: Bool?

        public init(idx: Int64, text: String?, leafHash: [UInt8]?, eventID: String?, claimedIndex: Int64?,
                    columnsAgree: Bool?) {
            self.idx = idx
            self.text = text
            self.leafHash = leafHash
            self.eventID = eventID
            self.claimedIndex = claimedIndex
            self.columnsAgree = columnsAgree
        }
    }

    func verify(_ db: Database, headPath: String?) throws -> AuditVerificationReport {
        let origin = try String.fetchOne(db, sql: "SELECT value FROM audit_meta WHERE key = 'origin'")
        let checkpoints = try Row.fetchAll(db, sql: "SELECT size, note FROM audit_checkpoints ORDER BY size")
            .map { (size: $0[0] as Int64, note: $0[1] as String) }
        let nodeLookup = try db.tableExists("audit_nodes")
            ? try db.makeStatement(sql: "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?") : nil
        var pass = Verification(verifier: verifier, origin: origin, checkpoints: checkpoints,
                                head: headPath.map { path in (path, FileManager.default.contents(atPath: path)) })
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT idx, entry, leaf_hash, event_id, CASE WHEN json_valid(entry) THEN json_extract(entry, '$.index') END,
                   CASE WHEN json_valid(entry) THEN time_ns IS json_extract(entry, '$.event.time_ns')
                        AND agent_id IS json_extract(entry, '$.event.agent.id') END
            FROM audit_entries ORDER BY idx
            """)
        while let row = try cursor.next() {
            let stored: Data? = row[2]
            try pass.visit(EntryRow(idx: row[0], text: row[1], leafHash: stored.map { [UInt8]($0) }, eventID: row[3],
                                    claimedIndex: row[4], columnsAgree: row[5])) { level, index in
                guard let nodeLookup else { return .noTable }
                return .hash((try Data.fetchOne(nodeLookup, arguments: [level, Int64(index)])).map { [UInt8]($0) })
            }
        }
        return pass.finish()
    }
}

/// A stored subtree hash, as a verification looks it up.
public enum StoredNode: Sendable {
    /// The log has no table of subtree hashes (an old log): nothing to compare.
    case noTable
    /// The stored hash, or nil when the row is missing.
    case hash([UInt8]?)
}

/// One pass of verification over a log's rows, whatever database they come from: the checkpoints first (at
/// creation), then every entry in position order (``visit(_:node:)``), then ``finish()``.
public struct Verification: Sendable {
    private struct Trusted {
        var root: RFC6962.Hash
        var source: String
    }

    private var report = AuditVerificationReport()
    private var trusted: [UInt64: Trusted] = [:]
    private var unstoredHead: SignedCheckpoint?
    private var frontier = MerkleFrontier()
    private var badNode: MerkleFrontier.CompletedNode?
    private var expected: UInt64 = 0
    private var firstDamage: UInt64?
    private var recentIDs: [UInt64: String] = [:]
    private var unresolved: (position: UInt64, claimed: UInt64, id: String?)?
    private var lastGoodCheckpoint: UInt64 = 0
    private var deferredRoot: (from: UInt64, to: UInt64, id: String?, source: String)?

    /// - Parameters:
    ///   - origin: The log's recorded origin (nil if none is recorded).
    ///   - checkpoints: The stored checkpoints (size column, note text), by size.
    ///   - head: The head checkpoint file's path and contents (nil contents: the file is missing), if one is kept.
    public init(verifier: NoteVerifier, origin: String?, checkpoints: [(size: Int64, note: String)],
                head: (path: String, contents: Data?)?) {
        // 1. Checkpoints: signature, origin, size column.
        for (size, note) in checkpoints {
            _ = accept(verifier, origin, note, source: "checkpoint \(size)", expectedSize: UInt64(max(0, size)))
        }
        // The head checkpoint is written before the database row, so a crash between the two leaves a head the
        // database does not hold yet. That is only damage when the entries do not reach it (decided in finish()).
        if let (path, contents) = head {
            if let data = contents {
                if let head = accept(verifier, origin, String(decoding: data, as: UTF8.self), source: "the head checkpoint file",
                                     expectedSize: nil),
                   !checkpoints.contains(where: { $0.size == Int64(head.size) }) {
                    unstoredHead = head
                }
            } else if !checkpoints.isEmpty {
                problem(.checkpoint, nil, nil, "the head checkpoint file \(path) is missing although the database holds checkpoints")
            }
        }
    }

    private mutating func problem(_ kind: AuditVerificationReport.Kind, _ index: UInt64?, _ id: String?, _ message: String) {
        report.problems.append(.init(kind: kind, index: index, eventID: id, message: message))
    }

    private mutating func accept(_ verifier: NoteVerifier, _ origin: String?, _ text: String, source: String,
                                 expectedSize: UInt64?) -> SignedCheckpoint? {
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

    private mutating func damage(_ kind: AuditVerificationReport.Kind, _ index: UInt64, _ id: String?, _ message: String) {
        guard firstDamage == nil else { return }
        firstDamage = index
        problem(kind, index, id, message)
    }

    /// 2. One entry, in position order. `node` looks up the stored hash of a completed subtree (level, index).
    public mutating func visit(_ row: AuditVerifier.EntryRow, node: (Int, UInt64) throws -> StoredNode) throws {
        let idx = UInt64(max(0, row.idx))
        let text = row.text ?? ""
        let stored = row.leafHash ?? []
        let id = row.eventID
        let claimed = row.claimedIndex
        if let u = unresolved {
            if let claimed, UInt64(max(0, claimed)) == u.claimed + 1 {
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
        } else if let claimed, UInt64(max(0, claimed)) != idx, firstDamage == nil {
            let c = UInt64(max(0, claimed))
            if c > idx {
                unresolved = (idx, c, id)
            } else {
                let first = c
                damage(.inserted, first, recentIDs[first],
                       "entry \(first) (id \(recentIDs[first] ?? "?")) was inserted: position \(idx) holds entry \(c), so \(idx - c) entr\(idx - c == 1 ? "y" : "ies") before it were never appended")
            }
        }
        if claimed != nil, row.columnsAgree != true {
            damage(.modified, idx, id, "entry \(idx) (id \(id ?? "?")) has search columns (time, agent) that differ from its hashed content")
        }
        if stored != leaf {
            damage(.modified, idx, id, "entry \(idx) (id \(id ?? "?")) was modified: its bytes do not match its recorded leaf hash")
        }
        var missing: MerkleFrontier.CompletedNode?
        let seen = badNode
        try frontier.append(leaf, reportingFrom: StoredSubtrees.storedLevel) { completed in
            guard seen == nil, missing == nil else { return }
            if case .hash(let hash) = try node(completed.level, completed.index), hash != completed.hash {
                missing = completed
            }
        }
        if badNode == nil, let missing { badNode = missing }
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

    /// 3. The findings that need the whole log.
    public mutating func finish() -> AuditVerificationReport {
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
