public import Foundation

/// Persistence for agent identity records and their lifecycle history.
///
/// Implementations must be safe for concurrent use and must fail with a thrown
/// error (never a silent default) when the backing store is unavailable, so
/// that callers deny.
public protocol AgentStore: Sendable {
    /// Inserts a new agent and its `registered` event atomically.
    func create(_ agent: Agent, event: LifecycleEvent) async throws
    /// Replaces an agent's record and records the event atomically.
    func update(_ agent: Agent, event: LifecycleEvent) async throws
    /// Replaces an agent's record and records the event atomically, only if the stored record is still
    /// the one the change was computed from (same status, same `updatedAt`): a compare-and-set, so
    /// that a change computed from a stale read never writes an old status back.
    ///
    /// - Throws: ``PortcullisError`` `.concurrentUpdate` when the record changed since `expected` was read.
    func update(_ agent: Agent, expected: Agent, event: LifecycleEvent) async throws
    /// The agent with this id, or nil.
    func agent(id: String) async throws -> Agent?
    /// All agents, optionally only those in one status, ordered by creation.
    func agents(status: AgentStatus?) async throws -> [Agent]
    /// Records an event that does not change the record (e.g. configuration drift).
    func record(_ event: LifecycleEvent) async throws
    /// An agent's events, oldest first.
    func events(agentID: String) async throws -> [LifecycleEvent]
}

/// Everything one node persists outside the audit log: what a store adapter (SQLite, PostgreSQL) provides.
public typealias StateStore = AgentStore & TokenStateStore & ToolStore & ApprovalStore & MonitorStore & VaultStore

/// Persistence for token-service state: replay caches, issued tokens, revocations.
public protocol TokenStateStore: Sendable {
    /// Records a one-time identifier (a client-assertion or DPoP `jti`) until `expiresAt`.
    ///
    /// - Returns: false when the identifier was already recorded and has not expired: a replay.
    func recordOnce(namespace: String, id: String, expiresAt: Date) async throws -> Bool
    /// Records an issued access token so that it can be introspected, counted and revoked.
    func recordIssued(_ token: IssuedToken) async throws
    /// Records an issued token only if its agent holds fewer than `limit` active tokens at `now`,
    /// checking and inserting atomically (concurrent requests cannot both pass the check).
    ///
    /// - Returns: false, recording nothing, when the agent is at its limit.
    func recordIssued(_ token: IssuedToken, limit: Int, now: Date) async throws -> Bool
    /// The issued token with this `jti`, or nil.
    func issued(jti: String) async throws -> IssuedToken?
    /// Marks a token revoked. Returns false when no such token exists.
    func revoke(jti: String, at: Date) async throws -> Bool
    /// Revokes every unexpired token of an agent (on suspension or decommissioning).
    func revokeAll(agentID: String, at: Date) async throws -> Int
    /// How many unrevoked, unexpired tokens an agent holds at `now`.
    func activeTokenCount(agentID: String, now: Date) async throws -> Int
    /// Drops expired replay-cache entries and tokens.
    func purgeExpired(now: Date) async throws
}

/// An access token the service issued.
public struct IssuedToken: Sendable, Codable, Equatable {
    public var jti: String
    public var agentID: String
    public var subject: String
    public var audience: String
    public var scope: String
    public var issuedAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?
    /// The DPoP key thumbprint (`cnf.jkt`) when sender-constrained.
    public var jkt: String?
    /// The complete claims as JSON, for introspection.
    public var claimsJSON: String
    /// The `jti` of the token this one was exchanged from (RFC 8693), nil for a token issued directly.
    /// A column of its own: the chain is walked by it, never by searching the claims' text.
    public var parentJTI: String?

    public init(jti: String, agentID: String, subject: String, audience: String, scope: String, issuedAt: Date,
                expiresAt: Date, revokedAt: Date? = nil, jkt: String? = nil, claimsJSON: String, parentJTI: String? = nil) {
        self.parentJTI = parentJTI
        self.jti = jti
        self.agentID = agentID
        self.subject = subject
        self.audience = audience
        self.scope = scope
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.jkt = jkt
        self.claimsJSON = claimsJSON
    }
}
