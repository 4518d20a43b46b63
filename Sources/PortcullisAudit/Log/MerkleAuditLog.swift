public import PortcullisCore
public import ServiceLifecycle

/// A Merkle audit log, whichever database holds it: what the server, its routes and its services use.
///
/// ``AuditLog`` keeps one node's log in SQLite; the PostgreSQL adapter keeps one log for every replica of a
/// deployment (docs/scale-out.md). Both append only durable entries, sign checkpoints with the same key format and
/// answer the same proofs, so witnesses and `portcullis audit verify` read either.
public protocol MerkleAuditLog: AuditSink, Service {
    /// The log's name: the first line of every checkpoint, and the key name.
    var origin: String { get }
    /// The signed-note verifier key of the checkpoints.
    var verifierKey: String { get }
    /// The number of durable entries this node knows of.
    var size: UInt64 { get async }
    /// The latest checkpoint this node signed or read.
    var latestCheckpoint: SignedCheckpoint? { get async }
    /// Signs (if the log grew) and returns a checkpoint of every durable entry.
    func checkpoint() async throws -> SignedCheckpoint
    func checkpoint(size: UInt64) async throws -> SignedCheckpoint?
    func checkpoints(after: UInt64?, limit: Int) async throws -> [SignedCheckpoint]
    func entry(index: UInt64) async throws -> AuditLogEntry?
    func entry(eventID: String) async throws -> AuditLogEntry?
    func entries(_ query: AuditQuery) async throws -> [AuditLogEntry]
    func inclusionProof(index: UInt64, treeSize: UInt64?) async throws -> InclusionProof
    func consistencyProof(from: UInt64, to: UInt64?) async throws -> ConsistencyProof
    /// Waits for appends in flight, signs a last checkpoint and closes.
    func close() async throws
    /// How often ``run()`` signs a checkpoint while entries arrive.
    var checkpointInterval: Duration { get }
    /// Signs a checkpoint if the log grew since the last one; a failure is logged, not thrown.
    func checkpointIfGrown() async
    /// Signs a checkpoint; a failure is logged, not thrown.
    func checkpointLogged() async
}

extension MerkleAuditLog {
    /// Signs a checkpoint every ``checkpointInterval`` while entries arrive, and a last one at graceful shutdown.
    public func run() async throws {
        let interval = checkpointInterval
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await self.checkpointIfGrown()
            }
        }
        await checkpointLogged()
    }
}

extension AuditLog: MerkleAuditLog {}

/// The layout both log stores share: subtrees of `2^storedLevel` leaves and more have their hash stored.
public enum MerkleLayout {
    public static let storedLevel = StoredSubtrees.storedLevel
}
