public import Foundation
public import Logging
public import PortcullisCore
public import ServiceLifecycle
import GRDB

/// The append-only, tamper-evident audit log: an RFC 6962 Merkle tree over SQLite rows, with
/// signed checkpoints.
///
/// ``append(_:)`` returns an entry's position only once the entry is committed with
/// `synchronous = FULL` in WAL mode. Concurrent appends are group-committed: the first
/// caller to find the log idle becomes the leader and writes every event queued meanwhile
/// in one transaction (one fsync), then hands leadership to the next waiter, so no
/// background task is needed to make progress.
///
/// Checkpoints are signed (Ed25519, C2SP signed-note/tlog-checkpoint) every
/// ``Configuration/checkpointEvery`` entries, every ``Configuration/checkpointInterval``
/// while running as a `Service`, at ``close()`` and on demand; each is stored in the
/// database and the latest is also written to a file outside it (the *head*), so deleting
/// the tail of the database is detectable by ``AuditVerifier``.
public actor AuditLog: AuditSink, Service {
    /// Tuning of checkpoints and batching.
    public struct Configuration: Sendable {
        /// Sign a checkpoint after this many new entries.
        public var checkpointEvery: UInt64
        /// Sign a checkpoint this often while entries arrive (when run as a service).
        public var checkpointInterval: Duration
        /// The largest group commit.
        public var maxBatch: Int

        public init(checkpointEvery: UInt64 = 10_000, checkpointInterval: Duration = .seconds(1), maxBatch: Int = 8192) {
            self.checkpointEvery = checkpointEvery
            self.checkpointInterval = checkpointInterval
            self.maxBatch = maxBatch
        }
    }

    /// An event ready to be written: its canonical JSON and its indexed columns.
    struct Queued: Sendable {
        var json: [UInt8]
        var timeNanos: Int64
        var agentID: String?
    }

    private enum Ticket: Sendable {
        case committed(UInt64)
        case lead
    }

    private struct Pending {
        var json: Queued
        var continuation: CheckedContinuation<Ticket, any Error>?
    }

    let pool: DatabasePool
    let path: String
    let headPath: String?
    let signer: NoteSigner
    let configuration: Configuration
    let logger: Logger
    /// The log's name: the first line of every checkpoint, and the key name.
    public nonisolated let origin: String
    /// The signed-note verifier key of the checkpoints (`<name>+<hash>+<base64 key>`).
    public nonisolated let verifierKey: String

    private var frontier: MerkleFrontier
    private var pending: [Pending] = []
    private var flushing = false
    private var needsResync = false
    private var latest: SignedCheckpoint?
    /// The size of the checkpoint in the head file.
    private var headSize: UInt64 = 0
    private var closed = false
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    /// The number of group commits so far (entries per commit = ``size`` growth / commits).
    public private(set) var commits: UInt64 = 0

    /// Opens (creating if needed) the log database at `path`.
    ///
    /// - Parameters:
    ///   - path: The SQLite file of the log (its own file, apart from the main store).
    ///   - signer: The checkpoint key; its name is the log's origin.
    ///   - headPath: Where the latest signed checkpoint is kept outside the database.
    ///   - configuration: Checkpoint cadence and batch size.
    ///   - logger: Where checkpoint failures are reported.
    /// - Throws: ``AuditError`` when the database cannot be opened or migrated, belongs to
    ///   another key, or its positions are not contiguous (run `portcullis audit verify`).
    public static func open(path: String, signer: NoteSigner, headPath: String?,
                            configuration: Configuration = .init(),
                            logger: Logger = Logger(label: "portcullis.audit")) throws -> AuditLog {
        let pool: DatabasePool
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var config = GRDB.Configuration()
            config.label = "PortcullisAudit"
            config.busyMode = .timeout(5)
            pool = try DatabasePool(path: path, configuration: config)
            // An acknowledged entry must survive power loss: fsync every commit.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
            try AuditLogSchema.migrator.migrate(pool)
        } catch {
            throw AuditError(.storage, "cannot open the audit log at \(path): \(error)")
        }
        let origin: String
        let frontier: MerkleFrontier
        let latest: SignedCheckpoint?
        do {
            origin = try pool.write { db in
                if let stored = try String.fetchOne(db, sql: "SELECT value FROM audit_meta WHERE key = 'origin'") {
                    return stored
                }
                try db.execute(sql: "INSERT INTO audit_meta(key, value) VALUES ('origin', ?)", arguments: [signer.name])
                return signer.name
            }
            frontier = try pool.read { db in try StoredSubtrees.frontier(db) }
            var stored = try pool.read { db in
                try String.fetchOne(db, sql: "SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            }.map { try SignedCheckpoint(parsing: $0) }
            // A crash between writing the head file and storing its checkpoint leaves the file one checkpoint
            // ahead: store it back. Only a checkpoint this key signed, of this log, that the entries reach.
            if let headPath, let data = FileManager.default.contents(atPath: headPath),
               let head = try? SignedCheckpoint(parsing: String(decoding: data, as: UTF8.self)),
               signer.verifier.verifies(head.note), head.checkpoint.origin == signer.name,
               head.size > (stored?.size ?? 0), head.size <= frontier.size,
               head.size < frontier.size || head.rootHash == frontier.root {
                try pool.write { db in
                    try db.execute(sql: "INSERT OR IGNORE INTO audit_checkpoints(size, note, signed_at_ns) VALUES (?, ?, ?)",
                                   arguments: [Int64(head.size), head.note.serialized,
                                               Int64(Date().timeIntervalSince1970 * 1e9)])
                }
                stored = head
            }
            latest = stored
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot read the audit log at \(path): \(error)")
        }
        guard origin == signer.name else {
            throw AuditError(.malformed, "the audit log at \(path) belongs to `\(origin)`, but the key is `\(signer.name)`")
        }
        return AuditLog(pool: pool, path: path, headPath: headPath, signer: signer, configuration: configuration,
                        logger: logger, origin: origin, frontier: frontier, latest: latest)
    }

    private init(pool: DatabasePool, path: String, headPath: String?, signer: NoteSigner, configuration: Configuration,
                 logger: Logger, origin: String, frontier: MerkleFrontier, latest: SignedCheckpoint?) {
        self.pool = pool
        self.path = path
        self.headPath = headPath
        self.signer = signer
        self.configuration = configuration
        self.logger = logger
        self.origin = origin
        self.verifierKey = signer.verifierKey
        self.frontier = frontier
        self.latest = latest
        self.headSize = latest?.size ?? 0
    }

    // MARK: - Appending

    /// Appends one event and returns its position once it is durable.
    ///
    /// - Throws: ``AuditError``: the event was not recorded, and the caller must fail closed.
    @discardableResult
    public nonisolated func append(_ event: AuditEvent) async throws -> UInt64 {
        let json = try AuditEntryCodec.eventJSON(event)
        return try await enqueue(Queued(json: json, timeNanos: event.timeNanos, agentID: event.agent?.id))
    }

    /// The number of durable entries.
    public var size: UInt64 { frontier.size }

    private func enqueue(_ json: Queued) async throws -> UInt64 {
        guard !closed else { throw AuditError(.closed, "the audit log is closed") }
        if flushing {
            let ticket = try await withCheckedThrowingContinuation { continuation in
                pending.append(Pending(json: json, continuation: continuation))
            }
            if case .committed(let index) = ticket { return index }
            // Handed leadership: our event is first in the queue, its continuation consumed.
        } else {
            flushing = true
            pending.append(Pending(json: json, continuation: nil))
        }
        return try await lead()
    }

    /// Writes the leader's batch (which starts with the leader's own event) and hands over.
    private func lead() async throws -> UInt64 {
        let take = min(pending.count, configuration.maxBatch)
        let batch = Array(pending.prefix(take))
        pending.removeFirst(take)
        do {
            if needsResync {
                frontier = try await pool.read { db in try StoredSubtrees.frontier(db) }
                needsResync = false
            }
            let base = frontier.size
            let events = batch.map(\.json)
            // The new frontier is computed on a copy and kept only once the batch (with its subtree nodes) commits.
            let before = frontier
            let after = try await pool.write { db in try Self.insert(events, frontier: before, db) }
            frontier = after
            commits += 1
            for (k, p) in batch.enumerated() { p.continuation?.resume(returning: .committed(base + UInt64(k))) }
            handOff()
            if frontier.size - (latest?.size ?? 0) >= configuration.checkpointEvery {
                await checkpointLogged()
            }
            return base
        } catch {
            // The commit may or may not have reached the file: re-read the tree before the next batch.
            needsResync = true
            let failure = error as? AuditError ?? AuditError(.storage, "cannot append to the audit log: \(error)")
            for p in batch { p.continuation?.resume(throwing: failure) }
            handOff()
            throw failure
        }
    }

    private func handOff() {
        if pending.isEmpty {
            flushing = false
            for waiter in idleWaiters { waiter.resume() }
            idleWaiters = []
        } else {
            let next = pending[0].continuation
            pending[0].continuation = nil
            next?.resume(returning: .lead)
        }
    }

    private static func insert(_ events: [Queued], frontier: MerkleFrontier, _ db: Database) throws -> MerkleFrontier {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO audit_entries(idx, entry, leaf_hash, time_ns, agent_id) VALUES (?, ?, ?, ?, ?)")
        var frontier = frontier
        var nodes: [MerkleFrontier.CompletedNode] = []
        for event in events {
            let index = frontier.size
            let entry = AuditEntryCodec.entry(eventJSON: event.json, index: index)
            let leaf = RFC6962.leafHash(entry)
            try statement.execute(arguments: [Int64(index), String(decoding: entry, as: UTF8.self), Data(leaf),
                                              event.timeNanos, event.agentID])
            frontier.append(leaf, reportingFrom: StoredSubtrees.storedLevel) { nodes.append($0) }
        }
        try StoredSubtrees.store(nodes, db)
        return frontier
    }

    // MARK: - Checkpoints

    /// Signs and stores a checkpoint of the current tree, unless the latest already covers it.
    ///
    /// - Returns: The checkpoint covering every durable entry.
    /// - Throws: ``AuditError`` when it cannot be signed or stored.
    @discardableResult
    public func checkpoint() async throws -> SignedCheckpoint {
        let size = frontier.size
        if let latest, latest.size >= size { return latest }
        let checkpoint = Checkpoint(origin: origin, size: size, rootHash: frontier.root)
        let signed = SignedCheckpoint(checkpoint: checkpoint, note: try signer.sign(checkpoint.text))
        let text = signed.note.serialized
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        // The head file first, then the database: a crash between the two leaves the file ahead of the database
        // (a signed checkpoint the entries still prove, stored back into the database on the next open), never the
        // database ahead of a missing or older head file, which is what deleting checkpoints looks like. There is no
        // suspension point between reading the frontier and writing the file, so the file's size only grows.
        if let headPath, latest == nil || latest!.size < size, size > headSize {
            try DurableFile.replace(headPath, with: text)
            headSize = size
        }
        do {
            try await pool.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO audit_checkpoints(size, note, signed_at_ns) VALUES (?, ?, ?)",
                               arguments: [Int64(size), text, now])
            }
        } catch {
            throw AuditError(.storage, "cannot store the checkpoint at size \(size): \(error)")
        }
        // Another checkpoint may have been stored while this one was; keep the head moving forward only.
        if latest == nil || latest!.size < size {
            latest = signed
        }
        return latest!
    }

    public func checkpointLogged() async {
        do {
            try await checkpoint()
        } catch {
            logger.error("cannot sign an audit checkpoint", metadata: ["error": "\(error)"])
        }
    }

    /// The latest signed checkpoint, if any.
    public var latestCheckpoint: SignedCheckpoint? { latest }

    /// The stored checkpoint at exactly `size`, if one was signed.
    public func checkpoint(size: UInt64) async throws -> SignedCheckpoint? {
        try await read("read a checkpoint") { db in
            try String.fetchOne(db, sql: "SELECT note FROM audit_checkpoints WHERE size = ?", arguments: [Int64(size)])
        }.map { try SignedCheckpoint(parsing: $0) }
    }

    /// Stored checkpoints with a size above `after`, oldest first (for witnesses).
    public func checkpoints(after: UInt64? = nil, limit: Int = 100) async throws -> [SignedCheckpoint] {
        let lower = after.map { Int64($0) } ?? -1
        return try await read("read checkpoints") { db in
            try String.fetchAll(db, sql: "SELECT note FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?",
                                arguments: [lower, limit])
        }.map { try SignedCheckpoint(parsing: $0) }
    }

    // MARK: - Service

    public nonisolated var checkpointInterval: Duration { configuration.checkpointInterval }

    public func checkpointIfGrown() async {
        if frontier.size > (latest?.size ?? 0) || latest == nil { await checkpointLogged() }
    }

    /// Waits for appends in flight, signs a final checkpoint and closes the database.
    ///
    /// Appends made afterwards throw `.closed`. Closing twice does nothing.
    public func close() async throws {
        guard !closed else { return }
        closed = true
        if flushing {
            await withCheckedContinuation { idleWaiters.append($0) }
        }
        try await checkpoint()
        do {
            try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try pool.close()
        } catch {
            throw AuditError(.storage, "cannot close the audit log at \(path): \(error)")
        }
    }

    // MARK: - Reading

    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot \(what): \(error)")
        }
    }

    static func entry(_ row: Row) throws -> AuditLogEntry {
        let idx: Int64 = row["idx"]
        let text: String = row["entry"]
        let leaf: Data = row["leaf_hash"]
        let bytes = Array(text.utf8)
        let decoded = try AuditEntryCodec.decode(bytes)
        return AuditLogEntry(index: UInt64(idx), leafHash: [UInt8](leaf), event: decoded.event, canonical: bytes)
    }

    /// The entry at `index`, if the log has one.
    public func entry(index: UInt64) async throws -> AuditLogEntry? {
        try await read("read an audit entry") { db in
            try Row.fetchOne(db, sql: "SELECT idx, entry, leaf_hash FROM audit_entries WHERE idx = ?",
                             arguments: [Int64(index)]).map(Self.entry)
        }
    }

    /// The entry recording the event with this id, if any.
    public func entry(eventID: String) async throws -> AuditLogEntry? {
        try await read("read an audit entry") { db in
            try Row.fetchOne(db, sql: "SELECT idx, entry, leaf_hash FROM audit_entries WHERE event_id = ? ORDER BY idx LIMIT 1",
                             arguments: [eventID]).map(Self.entry)
        }
    }

    /// Entries matching `query`.
    public func entries(_ query: AuditQuery) async throws -> [AuditLogEntry] {
        let (sql, arguments) = Self.select(query)
        return try await read("search the audit log") { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.entry)
        }
    }

    /// The SQL for a query, on the generated search columns.
    static func select(_ query: AuditQuery) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        func equal(_ column: String, _ value: String?) {
            if let value {
                conditions.append("\(column) = ?")
                arguments.append(value)
            }
        }
        equal("agent_id", query.agent)
        equal("on_behalf_of", query.user)
        equal("decision", query.decision)
        equal("kind", query.kind)
        equal("action", query.action)
        equal("actor", query.actor)
        if let resource = query.resource {
            if resource.hasSuffix("*") {
                conditions.append("substr(resource, 1, ?) = ?")
                arguments.append(resource.count - 1)
                arguments.append(String(resource.dropLast()))
            } else {
                equal("resource", resource)
            }
        }
        if let since = query.since { conditions.append("time_ns >= ?"); arguments.append(since) }
        if let until = query.until { conditions.append("time_ns < ?"); arguments.append(until) }
        if let from = query.fromIndex { conditions.append("idx >= ?"); arguments.append(Int64(from)) }
        if let before = query.beforeIndex { conditions.append("idx < ?"); arguments.append(Int64(before)) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT idx, entry, leaf_hash FROM audit_entries \(whereClause) ORDER BY idx \(query.ascending ? "ASC" : "DESC") LIMIT ?"
        arguments.append(max(0, min(query.limit, 10_000)))
        return (sql, StatementArguments(arguments))
    }

    /// Reads entries from a log database without opening it for writing (offline export).
    ///
    /// - Throws: ``AuditError`` `.storage` when the file cannot be read.
    public static func entries(databasePath: String, _ query: AuditQuery) throws -> [AuditLogEntry] {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw AuditError(.storage, "no audit log at \(databasePath)")
        }
        var config = GRDB.Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: databasePath, configuration: config)
            defer { try? queue.close() }
            let (sql, arguments) = select(query)
            return try queue.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(entry) }
        } catch let e as AuditError {
            throw e
        } catch {
            throw AuditError(.storage, "cannot read the audit log at \(databasePath): \(error)")
        }
    }

    // MARK: - Proofs

    /// How many hashes the last proof read from the database (tests check it grows as log n, not n).
    private(set) var lastProofRowsRead = 0

    /// Runs `body` over the stored subtrees in one read transaction.
    private func subtrees<T: Sendable>(_ what: String, _ body: @escaping @Sendable (inout StoredSubtrees) throws -> T)
        async throws -> T
    {
        let (value, rows) = try await read(what) { db in
            var reader = StoredSubtrees(db)
            let value = try body(&reader)
            return (value, reader.rowsRead)
        }
        lastProofRowsRead = rows
        return value
    }

    /// An inclusion proof of entry `index` in the tree of `treeSize` entries (default: the latest checkpoint's).
    ///
    /// - Throws: ``AuditError`` `.outOfRange` when the entry or size is not in the log.
    public func inclusionProof(index: UInt64, treeSize: UInt64? = nil) async throws -> InclusionProof {
        let size = treeSize ?? latest?.size ?? frontier.size
        guard size <= frontier.size, index < size else {
            throw AuditError(.outOfRange, "entry \(index) is not in a tree of \(size) entries (the log holds \(frontier.size))")
        }
        let (leaf, hashes, root) = try await subtrees("read an inclusion proof") { reader in
            (try reader.perfect(index..<(index + 1)),
             try RFC6962.inclusionProof(index: index, size: size) { try reader.perfect($0) },
             try RFC6962.root(0..<size) { try reader.perfect($0) })
        }
        return InclusionProof(index: index, treeSize: size, leafHash: leaf, hashes: hashes, rootHash: root,
                              checkpoint: try await checkpoint(size: size))
    }

    /// A consistency proof between the trees of `from` and `to` entries (default: the latest checkpoint's).
    ///
    /// - Throws: ``AuditError`` `.outOfRange` unless `from ≤ to ≤` the log's size.
    public func consistencyProof(from: UInt64, to: UInt64? = nil) async throws -> ConsistencyProof {
        let size = to ?? latest?.size ?? frontier.size
        guard from <= size, size <= frontier.size else {
            throw AuditError(.outOfRange, "no consistency proof from \(from) to \(size) entries (the log holds \(frontier.size))")
        }
        let (hashes, fromRoot, toRoot) = try await subtrees("read a consistency proof") { reader in
            (try RFC6962.consistencyProof(oldSize: from, size: size) { try reader.perfect($0) },
             try RFC6962.root(0..<from) { try reader.perfect($0) },
             try RFC6962.root(0..<size) { try reader.perfect($0) })
        }
        return ConsistencyProof(fromSize: from, toSize: size, hashes: hashes, fromRoot: fromRoot, toRoot: toRoot,
                                fromCheckpoint: try await checkpoint(size: from),
                                toCheckpoint: try await checkpoint(size: size))
    }
}

/// An RFC 6962 inclusion proof, with the root it leads to and the signed checkpoint of that size if any.
public struct InclusionProof: Sendable, Equatable {
    public var index: UInt64
    public var treeSize: UInt64
    public var leafHash: RFC6962.Hash
    public var hashes: [RFC6962.Hash]
    public var rootHash: RFC6962.Hash
    public var checkpoint: SignedCheckpoint?

    public init(index: UInt64, treeSize: UInt64, leafHash: RFC6962.Hash, hashes: [RFC6962.Hash], rootHash: RFC6962.Hash,
                checkpoint: SignedCheckpoint?) {
        self.index = index
        self.treeSize = treeSize
        self.leafHash = leafHash
        self.hashes = hashes
        self.rootHash = rootHash
        self.checkpoint = checkpoint
    }
}

/// An RFC 6962 consistency proof between two tree sizes, with the signed checkpoints of those sizes if any.
public struct ConsistencyProof: Sendable, Equatable {
    public var fromSize: UInt64
    public var toSize: UInt64
    public var hashes: [RFC6962.Hash]
    public var fromRoot: RFC6962.Hash
    public var toRoot: RFC6962.Hash
    public var fromCheckpoint: SignedCheckpoint?
    public var toCheckpoint: SignedCheckpoint?

    public init(fromSize: UInt64, toSize: UInt64, hashes: [RFC6962.Hash], fromRoot: RFC6962.Hash, toRoot: RFC6962.Hash,
                fromCheckpoint: SignedCheckpoint?, toCheckpoint: SignedCheckpoint?) {
        self.fromSize = fromSize
        self.toSize = toSize
        self.hashes = hashes
        self.fromRoot = fromRoot
        self.toRoot = toRoot
        self.fromCheckpoint = fromCheckpoint
        self.toCheckpoint = toCheckpoint
    }
}
