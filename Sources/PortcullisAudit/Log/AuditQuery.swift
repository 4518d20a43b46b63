public import PortcullisCore

/// Which entries to list: every filter given must match; newest first unless `ascending`.
public struct AuditQuery: Sendable, Equatable {
    public var agent: String?
    /// The on-behalf-of user.
    public var user: String?
    public var decision: String?
    public var kind: String?
    public var action: String?
    /// Exact tool or resource name; a trailing `*` matches a prefix.
    public var resource: String?
    public var actor: String?
    /// Unix nanoseconds, inclusive.
    public var since: Int64?
    /// Unix nanoseconds, exclusive.
    public var until: Int64?
    /// Only entries at positions ≥ this (for paging forward).
    public var fromIndex: UInt64?
    /// Only entries at positions < this (for paging backward).
    public var beforeIndex: UInt64?
    public var limit: Int
    public var ascending: Bool

    public init(agent: String? = nil, user: String? = nil, decision: String? = nil, kind: String? = nil,
                action: String? = nil, resource: String? = nil, actor: String? = nil, since: Int64? = nil,
                until: Int64? = nil, fromIndex: UInt64? = nil, beforeIndex: UInt64? = nil, limit: Int = 100,
                ascending: Bool = false) {
        self.agent = agent
        self.user = user
        self.decision = decision
        self.kind = kind
        self.action = action
        self.resource = resource
        self.actor = actor
        self.since = since
        self.until = until
        self.fromIndex = fromIndex
        self.beforeIndex = beforeIndex
        self.limit = limit
        self.ascending = ascending
    }
}

/// One stored entry: its position, its leaf hash, the event and the exact bytes that were hashed.
public struct AuditLogEntry: Sendable, Equatable {
    public var index: UInt64
    public var leafHash: RFC6962.Hash
    public var event: AuditEvent
    /// The canonical entry bytes (`{"event":…,"index":…}`).
    public var canonical: [UInt8]

    public init(index: UInt64, leafHash: RFC6962.Hash, event: AuditEvent, canonical: [UInt8]) {
        self.index = index
        self.leafHash = leafHash
        self.event = event
        self.canonical = canonical
    }
}
