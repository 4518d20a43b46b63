public import Foundation
public import Logging
public import PortcullisAudit
public import PortcullisCore
import PostgresNIO
public import ServiceLifecycle

/// One audit log for every replica of a deployment, in PostgreSQL (docs/scale-out.md).
///
/// **Who sequences.** Entries get their positions from whichever replica holds the log's transaction-scoped
/// advisory lock: a replica group-commits the events its callers queued (as ``AuditLog`` does), and each batch is
/// one transaction that takes the lock, reads the log's size, extends the Merkle tree (storing the subtree hashes
/// it completes, as SQLite does) and commits. Replicas take turns batch by batch. There is no long-lived sequencer
/// to elect or hand over: a replica that dies mid-batch dies inside its transaction, PostgreSQL rolls the batch back
/// and releases the lock, and nobody was told the batch was recorded. An event is acknowledged only once its
/// batch has committed, so no acknowledged entry can be lost by a crash.
///
/// **Checkpoints** are signed with the deployment's audit key (the same `audit-key` file on every replica) by
/// whichever replica asks for one (every `checkpointInterval` while entries arrive), under the same lock, and stored
/// with `ON CONFLICT DO NOTHING`; each replica also writes the latest checkpoint it signed to its own head file.
public actor PostgresAuditLog: MerkleAuditLog {
    /// The advisory lock of the log's writers (an arbitrary constant, not the migrations').
    static let lock: Int64 = 0x4175_6469_744C_6F67

    let store: PostgresStore
    let signer: NoteSigner
    let headPath: String?
    let configuration: AuditLog.Configuration
    let logger: Logger
    public nonisolated let origin: String
    public nonisolated let verifierKey: String

    /// The tree as this replica last wrote or read it; checked against the table's size inside each batch.
    private var frontier: MerkleFrontier?
    private var latest: SignedCheckpoint?
    private var closed = false
    private let batches: GroupCommit<Queued, UInt64>

    /// An event ready to be written: its canonical JSON and its indexed columns (taken from the event, not parsed
    /// back from the JSON).
    struct Queued: Sendable {
        var json: [UInt8]
        var timeNanos: Int64
        var agentID: String?
    }

    /// Opens the log in `store`'s database (its tables come with the store's migrations) and records its origin,
    /// refusing a database whose log belongs to another key.
    public static func open(store: PostgresStore, signer: NoteSigner, headPath: String?,
                            configuration: AuditLog.Configuration = .init(),
                            logger: Logger = Logger(label: "portcullis.audit")) async throws -> PostgresAuditLog {
        let name = signer.name
        let rows = try await store.rows("record the audit log's origin", """
            INSERT INTO audit_meta (key, value) VALUES ('origin', \(name))
            ON CONFLICT (key) DO UPDATE SET value = audit_meta.value RETURNING value
            """)
        guard let origin = try rows.first?.decode(String.self) else {
            throw AuditError(.storage, "cannot read the audit log's origin")
        }
        guard origin == name else {
            throw AuditError(.malformed, "the audit log in \(store.location) belongs to `\(origin)`, but the key is `\(name)`")
        }
        let log = PostgresAuditLog(store: store, signer: signer, headPath: headPath, configuration: configuration,
                                   logger: logger, origin: origin)
        try await log.loadLatest()
        return log
    }

    private init(store: PostgresStore, signer: NoteSigner, headPath: String?, configuration: AuditLog.Configuration,
                 logger: Logger, origin: String) {
        self.store = store
        self.signer = signer
        self.headPath = headPath
        self.configuration = configuration
        self.logger = logger
        self.origin = origin
        self.verifierKey = signer.verifierKey
        let maxBatch = configuration.maxBatch
        // The batch writer runs outside the actor: it only touches the database and hands the frontier back.
        let box = FrontierBox()
        self.batches = GroupCommit(maxBatch: maxBatch) { entries in
            do {
                let (indexes, tree) = try await Self.write(entries, store: store, cached: box.value)
                box.value = tree
                return indexes
            } catch {
                box.value = nil
                throw error
            }
        }
    }

    @discardableResult
    private func loadLatest() async throws -> SignedCheckpoint? {
        let stored = try await store.rows("read the latest checkpoint",
                                          "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            .first.map { try SignedCheckpoint(parsing: try $0.decode(String.self)) }
        if let stored, latest.map({ $0.size < stored.size }) ?? true { latest = stored }
        return stored
    }

    // MARK: - Appending

    public nonisolated func append(_ event: AuditEvent) async throws -> UInt64 {
        let queued = Queued(json: try AuditEntryCodec.eventJSON(event), timeNanos: event.timeNanos, agentID: event.agent?.id)
        guard await !closed else { throw AuditError(.closed, "the audit log is closed") }
        do {
            let index = try await batches.submit(queued)
            await grew(to: index + 1)
            return index
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot append to the audit log in PostgreSQL: \(error)")
        }
    }

    private var knownSize: UInt64 = 0

    private func grew(to size: UInt64) async {
        knownSize = max(knownSize, size)
        if knownSize - (latest?.size ?? 0) >= configuration.checkpointEvery { await checkpointLogged() }
    }

    /// Writes one batch under the writers' lock; returns each event's position and the tree after the batch.
    static func write(_ events: [Queued], store: PostgresStore, cached: MerkleFrontier?) async throws
        -> ([UInt64], MerkleFrontier)
    {
        let logger = store.logger
        return try await store.transaction("append to the audit log") { c in
            _ = try await c.rows("SELECT pg_advisory_xact_lock(\(Self.lock))", logger: logger)
            let size = try await Self.size(c, logger: logger)
            var tree: MerkleFrontier
            if let cached, cached.size == size {
                tree = cached
            } else {
                tree = try await Self.frontier(size: size, c, logger: logger)
            }
            var indexes: [Int64] = [], texts: [String] = [], leaves: [String] = [], times: [Int64] = [], agents: [String] = []
            var nodes: [MerkleFrontier.CompletedNode] = []
            for event in events {
                let index = tree.size
                let entry = AuditEntryCodec.entry(eventJSON: event.json, index: index)
                let leaf = RFC6962.leafHash(entry)
                indexes.append(Int64(index))
                texts.append(String(decoding: entry, as: UTF8.self))
                leaves.append(Hex.encode(leaf))
                times.append(event.timeNanos)
                agents.append(event.agentID ?? "")
                tree.append(leaf, reportingFrom: MerkleLayout.storedLevel) { nodes.append($0) }
            }
            _ = try await c.rows("""
                INSERT INTO audit_entries (idx, entry, leaf_hash, time_ns, agent_id)
                SELECT i, e, decode(h, 'hex'), t, NULLIF(a, '')
                FROM unnest(\(indexes)::bigint[], \(texts)::text[], \(leaves)::text[], \(times)::bigint[], \(agents)::text[])
                    AS u(i, e, h, t, a)
                """, logger: logger)
            if !nodes.isEmpty {
                _ = try await c.rows("""
                    INSERT INTO audit_nodes (level, idx, hash)
                    SELECT l, i, decode(h, 'hex')
                    FROM unnest(\(nodes.map { Int64($0.level) })::bigint[], \(nodes.map { Int64($0.index) })::bigint[],
                                \(nodes.map { Hex.encode($0.hash) })::text[]) AS u(l, i, h)
                    """, logger: logger)
            }
            return (indexes.map { UInt64($0) }, tree)
        }
    }

    /// The number of entries (positions are contiguous from 0; `audit verify` checks it).
    static func size(_ c: PostgresConnection, logger: Logger) async throws -> UInt64 {
        let last = try await c.rows("SELECT max(idx) FROM audit_entries", logger: logger).first?.decode(Int64?.self) ?? nil
        return UInt64((last ?? -1) + 1)
    }

    /// The tree of `size` entries, from its stored peaks (O(log n) rows).
    static func frontier(size: UInt64, _ c: PostgresConnection, logger: Logger) async throws -> MerkleFrontier {
        let ranges = RFC6962.peakRanges(size: size)
        let hashes = try await SubtreeHashes.fetch(ranges, c, logger: logger)
        let peaks = try ranges.map { try hashes.perfect($0) }
        guard let frontier = MerkleFrontier(size: size, peaks: peaks) else {
            throw AuditError(.malformed, "the audit log's tree cannot be rebuilt; run `portcullis audit verify`")
        }
        return frontier
    }

    // MARK: - Checkpoints

    public var size: UInt64 {
        get async { (try? await currentSize()) ?? knownSize }
    }

    private func currentSize() async throws -> UInt64 {
        let logger = self.logger
        let size = try await store.transaction("read the audit log's size") { c in try await Self.size(c, logger: logger) }
        knownSize = max(knownSize, size)
        return size
    }

    /// The deployment's latest checkpoint (whichever replica signed it); this replica's own when PostgreSQL cannot
    /// be read.
    public var latestCheckpoint: SignedCheckpoint? {
        get async {
            if let stored = try? await loadLatest(), latest.map({ $0.size < stored.size }) ?? true { latest = stored }
            return latest
        }
    }

    /// Signs a checkpoint of every entry committed so far (under the writers' lock, so no batch is half in it).
    @discardableResult
    public func checkpoint() async throws -> SignedCheckpoint {
        let logger = self.logger, signer = self.signer, origin = self.origin, headPath = self.headPath
        let signed = try await store.transaction("sign an audit checkpoint") { c -> SignedCheckpoint in
            _ = try await c.rows("SELECT pg_advisory_xact_lock(\(Self.lock))", logger: logger)
            let size = try await Self.size(c, logger: logger)
            if let stored = try await c.rows("SELECT note FROM audit_checkpoints WHERE size >= \(Int64(size)) ORDER BY size DESC LIMIT 1",
                                             logger: logger).first {
                return try SignedCheckpoint(parsing: try stored.decode(String.self))
            }
            let tree = try await Self.frontier(size: size, c, logger: logger)
            let checkpoint = Checkpoint(origin: origin, size: size, rootHash: tree.root)
            let signed = SignedCheckpoint(checkpoint: checkpoint, note: try signer.sign(checkpoint.text))
            // The head file first (as for SQLite): a crash in between leaves a head the entries prove.
            if let headPath { try DurableFile.replace(headPath, with: signed.note.serialized, mode: 0o644) }
            let now = Int64(Date().timeIntervalSince1970 * 1e9)
            _ = try await c.rows("""
                INSERT INTO audit_checkpoints (size, note, signed_at_ns) VALUES (\(Int64(size)), \(signed.note.serialized), \(now))
                ON CONFLICT (size) DO NOTHING
                """, logger: logger)
            return signed
        }
        if latest == nil || latest!.size < signed.size { latest = signed }
        knownSize = max(knownSize, signed.size)
        return signed
    }

    public func checkpointLogged() async {
        do {
            try await checkpoint()
        } catch {
            logger.error("cannot sign an audit checkpoint", metadata: ["error": "\(error)"])
        }
    }

    public func checkpoint(size: UInt64) async throws -> SignedCheckpoint? {
        try await store.rows("read a checkpoint", "SELECT note FROM audit_checkpoints WHERE size = \(Int64(size))")
            .first.map { try SignedCheckpoint(parsing: try $0.decode(String.self)) }
    }

    public func checkpoints(after: UInt64?, limit: Int) async throws -> [SignedCheckpoint] {
        let lower = after.map { Int64($0) } ?? -1
        return try await store.rows("read checkpoints", """
            SELECT note FROM audit_checkpoints WHERE size > \(lower) ORDER BY size LIMIT \(Int64(max(0, limit)))
            """).map { try SignedCheckpoint(parsing: try $0.decode(String.self)) }
    }

    public nonisolated var checkpointInterval: Duration { configuration.checkpointInterval }

    public func checkpointIfGrown() async {
        guard let size = try? await currentSize() else { return }
        if size > (latest?.size ?? 0) || latest == nil { await checkpointLogged() }
    }

    public func close() async throws {
        guard !closed else { return }
        closed = true
        try await checkpoint()
    }

    // MARK: - Reading

    static func entry(_ row: PostgresRow) throws -> AuditLogEntry {
        let (idx, text, leaf) = try row.decode((Int64, String, ByteBuffer).self)
        let bytes = Array(text.utf8)
        let decoded = try AuditEntryCodec.decode(bytes)
        return AuditLogEntry(index: UInt64(idx), leafHash: Array(leaf.readableBytesView), event: decoded.event, canonical: bytes)
    }

    public func entry(index: UInt64) async throws -> AuditLogEntry? {
        try await store.rows("read an audit entry", "SELECT idx, entry, leaf_hash FROM audit_entries WHERE idx = \(Int64(index))")
            .first.map(Self.entry)
    }

    public func entry(eventID: String) async throws -> AuditLogEntry? {
        try await store.rows("read an audit entry", """
            SELECT idx, entry, leaf_hash FROM audit_entries WHERE event_id = \(eventID) ORDER BY idx LIMIT 1
            """).first.map(Self.entry)
    }

    public func entries(_ q: AuditQuery) async throws -> [AuditLogEntry] {
        // NULL parameters match everything, as in the store's queries.
        let prefix = q.resource.flatMap { $0.hasSuffix("*") ? String($0.dropLast()) : nil }
        let exact = q.resource.flatMap { $0.hasSuffix("*") ? nil : $0 }
        let order = q.ascending ? "ASC" : "DESC"
        let query: PostgresQuery = """
            SELECT idx, entry, leaf_hash FROM audit_entries
            WHERE (\(q.agent)::text IS NULL OR agent_id = \(q.agent))
              AND (\(q.user)::text IS NULL OR on_behalf_of = \(q.user))
              AND (\(q.decision)::text IS NULL OR decision = \(q.decision))
              AND (\(q.kind)::text IS NULL OR kind = \(q.kind))
              AND (\(q.action)::text IS NULL OR action = \(q.action))
              AND (\(q.actor)::text IS NULL OR actor = \(q.actor))
              AND (\(exact)::text IS NULL OR resource = \(exact))
              AND (\(prefix)::text IS NULL OR starts_with(resource, \(prefix)))
              AND (\(q.since)::bigint IS NULL OR time_ns >= \(q.since))
              AND (\(q.until)::bigint IS NULL OR time_ns < \(q.until))
              AND (\(q.fromIndex.map { Int64($0) })::bigint IS NULL OR idx >= \(q.fromIndex.map { Int64($0) }))
              AND (\(q.beforeIndex.map { Int64($0) })::bigint IS NULL OR idx < \(q.beforeIndex.map { Int64($0) }))
            ORDER BY idx \(unescaped: order) LIMIT \(Int64(max(0, min(q.limit, 10_000))))
            """
        return try await store.rows("search the audit log", query).map(Self.entry)
    }

    // MARK: - Proofs

    public func inclusionProof(index: UInt64, treeSize: UInt64?) async throws -> InclusionProof {
        let current = try await currentSize()
        let stored = try await loadLatest()?.size
        let size = treeSize ?? stored ?? current
        guard size <= current, index < size else {
            throw AuditError(.outOfRange, "entry \(index) is not in a tree of \(size) entries (the log holds \(current))")
        }
        let needed = try SubtreeHashes.ranges { perfect in
            _ = try perfect(index..<(index + 1))
            _ = try RFC6962.inclusionProof(index: index, size: size, perfect: perfect)
            _ = try RFC6962.root(0..<size, perfect: perfect)
        }
        let hashes = try await fetch(needed)
        return InclusionProof(index: index, treeSize: size, leafHash: try hashes.perfect(index..<(index + 1)),
                              hashes: try RFC6962.inclusionProof(index: index, size: size, perfect: hashes.perfect),
                              rootHash: try RFC6962.root(0..<size, perfect: hashes.perfect),
                              checkpoint: try await checkpoint(size: size))
    }

    public func consistencyProof(from: UInt64, to: UInt64?) async throws -> ConsistencyProof {
        let current = try await currentSize()
        let stored = try await loadLatest()?.size
        let size = to ?? stored ?? current
        guard from <= size, size <= current else {
            throw AuditError(.outOfRange, "no consistency proof from \(from) to \(size) entries (the log holds \(current))")
        }
        let needed = try SubtreeHashes.ranges { perfect in
            _ = try RFC6962.consistencyProof(oldSize: from, size: size, perfect: perfect)
            _ = try RFC6962.root(0..<from, perfect: perfect)
            _ = try RFC6962.root(0..<size, perfect: perfect)
        }
        let hashes = try await fetch(needed)
        return ConsistencyProof(fromSize: from, toSize: size,
                                hashes: try RFC6962.consistencyProof(oldSize: from, size: size, perfect: hashes.perfect),
                                fromRoot: try RFC6962.root(0..<from, perfect: hashes.perfect),
                                toRoot: try RFC6962.root(0..<size, perfect: hashes.perfect),
                                fromCheckpoint: try await checkpoint(size: from), toCheckpoint: try await checkpoint(size: size))
    }

    private func fetch(_ ranges: [Range<UInt64>]) async throws -> SubtreeHashes {
        let logger = self.logger
        return try await store.transaction("read a proof") { c in try await SubtreeHashes.fetch(ranges, c, logger: logger) }
    }
}

/// The tree the last committed batch left, for the next batch (checked against the table's size before use).
final class FrontierBox: @unchecked Sendable {
    // Touched only by the group commit's flush, which runs one batch at a time.
    var value: MerkleFrontier?
}

/// The hashes of perfect subtrees a computation needs, fetched in two queries: the stored nodes of 64 leaves and
/// more, and the leaves of the smaller ones.
struct SubtreeHashes: Sendable {
    var nodes: [Int: [UInt64: RFC6962.Hash]] = [:]
    var leaves: [UInt64: RFC6962.Hash] = [:]

    /// The perfect ranges `body` asks for (the proof algorithms read structure, never hash values).
    static func ranges(_ body: (RFC6962.SubtreeRoot) throws -> Void) throws -> [Range<UInt64>] {
        var asked: [Range<UInt64>] = []
        try body { range in
            asked.append(range)
            return RFC6962.emptyRoot
        }
        return asked
    }

    static func fetch(_ ranges: [Range<UInt64>], _ c: PostgresConnection, logger: Logger) async throws -> SubtreeHashes {
        var levels: [Int64] = [], indexes: [Int64] = [], leafIndexes: [Int64] = []
        for r in ranges {
            let level = UInt64(r.count).trailingZeroBitCount
            if level >= MerkleLayout.storedLevel {
                levels.append(Int64(level))
                indexes.append(Int64(r.lowerBound >> UInt64(level)))
            } else {
                leafIndexes.append(contentsOf: r.map { Int64($0) })
            }
        }
        var out = SubtreeHashes()
        if !levels.isEmpty {
            for row in try await c.rows("""
                SELECT n.level, n.idx, n.hash FROM audit_nodes n
                JOIN unnest(\(levels)::bigint[], \(indexes)::bigint[]) AS u(l, i) ON n.level = u.l AND n.idx = u.i
                """, logger: logger) {
                let (level, idx, hash) = try row.decode((Int64, Int64, ByteBuffer).self)
                out.nodes[Int(level), default: [:]][UInt64(idx)] = Array(hash.readableBytesView)
            }
        }
        if !leafIndexes.isEmpty {
            for row in try await c.rows("SELECT idx, leaf_hash FROM audit_entries WHERE idx = ANY(\(leafIndexes)::bigint[])",
                                        logger: logger) {
                let (idx, hash) = try row.decode((Int64, ByteBuffer).self)
                out.leaves[UInt64(idx)] = Array(hash.readableBytesView)
            }
        }
        return out
    }

    /// The root of the perfect subtree over `range`, from what was fetched.
    func perfect(_ range: Range<UInt64>) throws -> RFC6962.Hash {
        let level = UInt64(range.count).trailingZeroBitCount
        if level >= MerkleLayout.storedLevel {
            guard let hash = nodes[level]?[range.lowerBound >> UInt64(level)], hash.count == 32 else {
                throw AuditError(.malformed, "the audit log has no stored hash for entries \(range.lowerBound)..<\(range.upperBound); run `portcullis audit verify`")
            }
            return hash
        }
        let hashes = range.compactMap { leaves[$0] }
        guard hashes.count == range.count, hashes.allSatisfy({ $0.count == 32 }) else {
            throw AuditError(.malformed, "the audit log has gaps in entries \(range.lowerBound)..<\(range.upperBound); run `portcullis audit verify`")
        }
        return RFC6962.root(hashes[...])
    }
}
